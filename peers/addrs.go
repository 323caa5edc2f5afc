package peers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Where a data channel can be reached. A device listens on every
// interface by default and announces each address a peer might reach it
// at: its interfaces' unicast addresses (not loopback, not link-local,
// which needs a zone no peer knows), loopback only when it has nothing
// else (a peer on the same host reaches the others just as well), and the
// configured external address (a port forwarded on a router). The dialer
// races them and keeps the first that completes the pinned handshake.
const (
	// maxAddrs bounds the addresses one presence carries (presence goes to
	// every device of the account: it stays small).
	maxAddrs = 8
	// maxAddrsLen bounds the announced list as it travels (space-separated).
	maxAddrsLen = 512
	// dialStagger is how long one candidate has before the next starts too.
	dialStagger = 300 * time.Millisecond
)

// announceAddrs lists the addresses a data channel listening at ln can be
// reached at. ifaddrs is net.InterfaceAddrs (a parameter for tests).
func announceAddrs(ln netip.AddrPort, external string, ifaddrs func() ([]net.Addr, error)) []string {
	port := ln.Port()
	var out []string
	add := func(a string) {
		if len(out) < maxAddrs && !contains(out, a) {
			out = append(out, a)
		}
	}
	if ip := ln.Addr().Unmap(); !ip.IsUnspecified() {
		add(netip.AddrPortFrom(ip, port).String())
	} else {
		v4only := ln.Addr().Unmap().Is4() // 0.0.0.0: IPv6 peers could not connect
		var all []net.Addr
		if ifaddrs != nil {
			all, _ = ifaddrs()
		}
		var v4, v6, loop []netip.Addr
		for _, a := range all {
			pfx, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			ip := pfx.Addr().Unmap()
			switch {
			case ip.IsLoopback():
				loop = append(loop, ip)
			case ip.IsLinkLocalUnicast(), ip.IsMulticast(), ip.IsUnspecified():
			case ip.Is4():
				v4 = append(v4, ip)
			case !v4only:
				v6 = append(v6, ip)
			}
		}
		for _, ip := range append(v4, v6...) {
			add(netip.AddrPortFrom(ip, port).String())
		}
		if len(out) == 0 {
			for _, ip := range loop {
				if ip.Is4() || !v4only {
					add(netip.AddrPortFrom(ip, port).String())
				}
			}
		}
		if len(out) == 0 {
			add(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port).String())
		}
	}
	if external != "" {
		if len(out) == maxAddrs {
			out = out[:maxAddrs-1] // the configured address always goes
		}
		add(external)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// joinAddrs is the wire form of an address list.
func joinAddrs(addrs []string) string { return strings.Join(addrs, " ") }

// parseAddrs checks an announced address list; its length is bounded
// before it is split.
func parseAddrs(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > maxAddrsLen {
		return nil, fmt.Errorf("address list of %d bytes: %w", len(s), ErrProtocol)
	}
	addrs := strings.Fields(s)
	if len(addrs) > maxAddrs {
		return nil, fmt.Errorf("%d addresses: %w", len(addrs), ErrProtocol)
	}
	for _, a := range addrs {
		if err := validAddr(a); err != nil {
			return nil, err
		}
	}
	return addrs, nil
}

// errNoAddress means a device announced nowhere to dial.
var errNoAddress = errors.New("no data channel address")

// dialFirst tries addrs, starting the next one every stagger or as soon
// as one fails, and returns the first connection dial completes, with its
// address. The others are cancelled, and closed should they complete too.
func dialFirst[C interface{ Close() error }](ctx context.Context, addrs []string, stagger time.Duration, dial func(context.Context, string) (C, error)) (C, string, error) {
	var zero C
	if len(addrs) == 0 {
		return zero, "", errNoAddress
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		c    C
		addr string
		err  error
	}
	results := make(chan result, len(addrs))
	next, running := 0, 0
	start := func() {
		a := addrs[next]
		next++
		running++
		go func() {
			c, err := dial(ctx, a)
			results <- result{c, a, err}
		}()
	}
	start()
	timer := time.NewTimer(stagger)
	defer timer.Stop()
	var errs []error
	for running > 0 {
		select {
		case <-timer.C:
			if next < len(addrs) {
				start()
				timer.Reset(stagger)
			}
		case r := <-results:
			running--
			if r.err == nil {
				cancel()
				// Late winners are closed as they finish.
				go func(n int) {
					for range n {
						if l := <-results; l.err == nil {
							l.c.Close()
						}
					}
				}(running)
				return r.c, r.addr, nil
			}
			errs = append(errs, fmt.Errorf("%s: %w", r.addr, r.err))
			if next < len(addrs) {
				start()
				timer.Reset(stagger)
			}
		}
	}
	return zero, "", errors.Join(errs...)
}
