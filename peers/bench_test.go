package peers

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/stanza"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/internal/prosodytest"
	"github.com/uberan/latus/meta"
)

// fetchAll fetches ids from src, par at a time, and returns the elapsed time.
func fetchAll(b *testing.B, src chunks.Source, ids []chunks.ID, par int) time.Duration {
	b.Helper()
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, par)
	errs := make(chan error, len(ids))
	for _, id := range ids {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := src.Fetch(context.Background(), id)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

// plainTLSCopy sends n bytes over a loopback TLS 1.3 connection with
// io.Copy: the ceiling the data channel is measured against.
func plainTLSCopy(b *testing.B, cert tls.Certificate, data []byte, rounds int) time.Duration {
	b.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		for range rounds {
			if _, err := c.Write(data); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	n, err := io.CopyN(io.Discard, c, int64(len(data)*rounds))
	el := time.Since(start)
	if err != nil || n != int64(len(data)*rounds) {
		b.Fatalf("plain TLS copy: %d bytes, %v", n, err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return el
}

func mbps(n int, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }

// transferSetup starts two devices on a stock Prosody whose account is
// exempt from its rate limit (the in-band protocol's own cost is measured,
// not mod_limits' 10 kB/s); b holds nchunks random chunks of size bytes.
func transferSetup(b *testing.B, nchunks, size int, mod func(*Options)) (a, bb *testDevice, src chunks.Source, ids []chunks.ID) {
	srv := prosodytest.Start(b, prosodytest.Unlimited("alice"))
	srv.Register(b, "alice", testPass)
	a = newDevice(b, srv, "alice", mod)
	bb = newDevice(b, srv, "alice")
	meet(b, a, bb)
	for i := range nchunks {
		id, err := bb.store.Put(chunks.RandomBytes(uint64(500+i), size))
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
	}
	src = a.sourceFor(b, bb)
	fetchAll(b, src, ids[:1], 1) // connect outside the timing
	return a, bb, src, ids
}

// BenchmarkDataChannel measures chunk transfer (request, stored bytes,
// hash check) between two devices on loopback against a plain TLS io.Copy
// of as many bytes, alternating the two and keeping each one's best round
// so that load from elsewhere on the machine skews neither.
func BenchmarkDataChannel(b *testing.B) {
	const nchunks, rounds = 16, 5
	for range b.N {
		a, _, src, ids := transferSetup(b, nchunks, chunks.MaxChunk, func(*Options) {})
		data := chunks.RandomBytes(1, chunks.MaxChunk)
		var best, bestPlain time.Duration
		for range rounds {
			if d := fetchAll(b, src, ids, 8); best == 0 || d < best {
				best = d
			}
			if d := plainTLSCopy(b, a.id.Cert, data, nchunks); bestPlain == 0 || d < bestPlain {
				bestPlain = d
			}
		}
		rate, plain := mbps(nchunks*chunks.MaxChunk, best), mbps(nchunks*chunks.MaxChunk, bestPlain)
		b.ReportMetric(rate, "MiB/s")
		b.ReportMetric(plain, "plainTLS-MiB/s")
		b.ReportMetric(rate/plain, "ratio")
		printRow("direct (loopback)", rate, "plain TLS io.Copy", plain)
	}
}

// BenchmarkInBand measures chunk transfer over an in-band stream through
// the XMPP server, with no rate limit (the protocol's cost: 6 KiB blocks,
// one in flight) and through stock mod_limits, beside the limit.
func BenchmarkInBand(b *testing.B) {
	cases := []struct {
		name          string
		nchunks, size int
		user          string
	}{
		{"Unlimited", 4, chunks.MaxChunk, "alice"},
		{"StockLimits", 1, 96 << 10, "limited"},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				var src chunks.Source
				var ids []chunks.ID
				if tc.user == "alice" {
					_, _, src, ids = transferSetup(b, tc.nchunks, tc.size, inBandOnly)
				} else {
					srv := startServer(b, tc.user)
					a := newDevice(b, srv, tc.user, inBandOnly)
					bb := newDevice(b, srv, tc.user)
					meet(b, a, bb)
					id, err := bb.store.Put(chunks.RandomBytes(600, tc.size))
					if err != nil {
						b.Fatal(err)
					}
					src, ids = a.sourceFor(b, bb), []chunks.ID{id}
				}
				d := fetchAll(b, src, ids, 4)
				rate := float64(tc.nchunks*tc.size) / 1024 / d.Seconds()
				b.ReportMetric(rate, "KiB/s")
				limit := "none"
				if tc.user != "alice" {
					limit = "10 kB/s (9.8 KiB/s) per client"
				}
				fmt.Printf("%-28s %10s  %-32s\n%-28s %10.1f  %-32s\n", "in-band "+tc.name, "KiB/s", "server limit", "", rate, limit)
			}
		})
	}
}

// printRow prints one benchmark row: a rate beside its baseline's.
func printRow(what string, rate float64, baseline string, base float64) {
	fmt.Printf("%-24s %9s  %-32s %9s  %s\n", "transfer", "MiB/s", "baseline", "MiB/s", "ratio")
	fmt.Printf("%-24s %9.1f  %-32s %9.1f  %.2f\n", what, rate, baseline, base, rate/base)
}

// rawRelayCopy moves rounds×len(data) bytes between two plain SOCKS5
// clients of the server's proxy, activated as the data channel's are:
// the ceiling a relayed data channel is measured against.
func rawRelayCopy(b *testing.B, req, tgt *testDevice, data []byte, rounds int) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sh, err := req.sw.findProxy(ctx)
	if err != nil {
		b.Fatal(err)
	}
	sid := randomSID()
	dst := streamHash(sid, req.sw.fullJID(), tgt.sw.fullJID())
	var d net.Dialer
	ct, err := socks5Connect(ctx, &d, sh.Addr, dst)
	if err != nil {
		b.Fatal(err)
	}
	defer ct.Close()
	cr, err := socks5Connect(ctx, &d, sh.Addr, dst)
	if err != nil {
		b.Fatal(err)
	}
	defer cr.Close()
	activate := bsElement("query", []xml.Attr{attr("sid", sid)}, bsElement("activate", nil, chars(tgt.sw.fullJID().String())))
	if err := req.sw.sendIQ(ctx, sh.JID, stanza.SetIQ, activate, nil); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for range rounds {
			if _, err := ct.Write(data); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	start := time.Now()
	n, err := io.CopyN(io.Discard, cr, int64(len(data)*rounds))
	el := time.Since(start)
	if err != nil || n != int64(len(data)*rounds) {
		b.Fatalf("raw relay copy: %d bytes, %v", n, err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return el
}

// BenchmarkRelay measures chunk transfer over a data channel carried by
// the server's SOCKS5 proxy against a plain TCP copy of as many bytes
// between two SOCKS5 clients of the same proxy, alternating the two and
// keeping each one's best round.
func BenchmarkRelay(b *testing.B) {
	const nchunks, rounds = 16, 3
	for range b.N {
		a, bb, src, ids := transferSetup(b, nchunks, chunks.MaxChunk, relayOnly)
		if via := a.transportTo(b, bb); !strings.HasPrefix(via, "relay ") {
			b.Fatalf("data channel over %q, not the relay", via)
		}
		data := chunks.RandomBytes(1, chunks.MaxChunk)
		var best, bestRaw time.Duration
		for range rounds {
			if d := fetchAll(b, src, ids, 8); best == 0 || d < best {
				best = d
			}
			if d := rawRelayCopy(b, a, bb, data, nchunks); bestRaw == 0 || d < bestRaw {
				bestRaw = d
			}
		}
		rate, raw := mbps(nchunks*chunks.MaxChunk, best), mbps(nchunks*chunks.MaxChunk, bestRaw)
		b.ReportMetric(rate, "MiB/s")
		b.ReportMetric(raw, "rawSOCKS5-MiB/s")
		b.ReportMetric(rate/raw, "ratio")
		printRow("relay (proxy65)", rate, "plain TCP copy through proxy65", raw)
	}
}

// BenchmarkIndex100k measures how long a device takes to pull and merge
// another device's index of 100,000 versions.
func BenchmarkIndex100k(b *testing.B) {
	const n = 100_000
	for range b.N {
		srv := startServer(b, "alice")
		src := newDevice(b, srv, "alice")
		mtime := time.Now()
		for i := 0; i < n; i += 1000 {
			var cs []meta.Change
			for j := i; j < i+1000; j++ {
				f := meta.FileContent([]byte(fmt.Sprint(j)), mtime)
				cs = append(cs, meta.Change{Kind: meta.Created, Path: fmt.Sprintf("d%03d/f%06d", j/1000, j), File: f})
			}
			if i%1000 == 0 {
				cs = append([]meta.Change{{Kind: meta.Created, Path: fmt.Sprintf("d%03d", i/1000), File: meta.DirContent(mtime)}}, cs...)
			}
			meta.TestCommit(b, src.meta, cs...)
		}
		start := time.Now()
		dst := newDevice(b, srv, "alice")
		deadline := time.Now().Add(2 * time.Minute)
		for dst.meta.Stats().Files < n {
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d files after 2 minutes", dst.meta.Stats().Files, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
		el := time.Since(start)
		b.ReportMetric(el.Seconds(), "s/100k-versions")
		b.Logf("index exchange of %d versions (+%d dirs): %v", n, n/1000, el)
	}
}
