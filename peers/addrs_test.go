package peers

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func ifaddrs(cidrs ...string) func() ([]net.Addr, error) {
	return func() ([]net.Addr, error) {
		var out []net.Addr
		for _, c := range cidrs {
			ip, n, err := net.ParseCIDR(c)
			if err != nil {
				panic(err)
			}
			n.IP = ip
			out = append(out, n)
		}
		return out, nil
	}
}

func TestAnnounceAddrs(t *testing.T) {
	lan := ifaddrs("127.0.0.1/8", "::1/128", "192.168.1.20/24", "fe80::1/64", "2001:db8::5/64", "10.0.0.7/8")
	cases := []struct {
		name     string
		listen   string
		external string
		ifs      func() ([]net.Addr, error)
		want     []string
	}{
		{"all interfaces: no loopback, no link-local, IPv4 first", "[::]:7000", "", lan,
			[]string{"192.168.1.20:7000", "10.0.0.7:7000", "[2001:db8::5]:7000"}},
		{"IPv4 wildcard leaves IPv6 out", "0.0.0.0:7000", "", lan,
			[]string{"192.168.1.20:7000", "10.0.0.7:7000"}},
		{"only loopback: loopback", "[::]:7000", "", ifaddrs("127.0.0.1/8", "::1/128"),
			[]string{"127.0.0.1:7000", "[::1]:7000"}},
		{"no interfaces at all", "[::]:7000", "", ifaddrs(), []string{"127.0.0.1:7000"}},
		{"a specific address is the only one", "127.0.0.1:7000", "", lan, []string{"127.0.0.1:7000"}},
		{"external goes last", "0.0.0.0:7000", "example.org:443", lan,
			[]string{"192.168.1.20:7000", "10.0.0.7:7000", "example.org:443"}},
		{"external survives the cap", "0.0.0.0:1", "x.example:2",
			ifaddrs("10.0.0.1/8", "10.0.0.2/8", "10.0.0.3/8", "10.0.0.4/8", "10.0.0.5/8", "10.0.0.6/8", "10.0.0.7/8", "10.0.0.8/8", "10.0.0.9/8"),
			[]string{"10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1", "10.0.0.4:1", "10.0.0.5:1", "10.0.0.6:1", "10.0.0.7:1", "x.example:2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := announceAddrs(netip.MustParseAddrPort(tc.listen), tc.external, tc.ifs)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if back, err := parseAddrs(joinAddrs(got)); err != nil || !slices.Equal(back, got) {
				t.Fatalf("wire round trip: %q, %v", back, err)
			}
		})
	}
}

func TestParseAddrs(t *testing.T) {
	cases := []struct {
		name string
		in   string
		ok   bool
	}{
		{"empty", "", true},
		{"two", "10.0.0.1:5 [::1]:6", true},
		{"no port", "10.0.0.1", false},
		{"port zero", "10.0.0.1:0", false},
		{"too many", strings.Repeat("10.0.0.1:5 ", maxAddrs+1), false},
		{"too long", strings.Repeat("a", maxAddrsLen+1) + ":5", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseAddrs(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("parseAddrs(%.40q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v is not ErrProtocol", err)
			}
		})
	}
}

func FuzzParseAddrs(f *testing.F) {
	f.Add("10.0.0.1:5 [::1]:6")
	f.Add("host:1 host:2 host:3")
	f.Fuzz(func(t *testing.T, s string) {
		addrs, err := parseAddrs(s)
		if err != nil {
			return
		}
		if len(addrs) > maxAddrs {
			t.Fatalf("%d addresses accepted", len(addrs))
		}
		for _, a := range addrs {
			if validAddr(a) != nil {
				t.Fatalf("invalid %q accepted", a)
			}
		}
	})
}

type fakeConn struct {
	addr   string
	closed *atomic.Int32
}

func (c fakeConn) Close() error { c.closed.Add(1); return nil }

func TestDialFirst(t *testing.T) {
	type plan struct {
		delay time.Duration
		fail  bool
	}
	cases := []struct {
		name    string
		plans   map[string]plan
		order   []string
		want    string
		wantErr bool
	}{
		{"first answers", map[string]plan{"a": {}, "b": {}}, []string{"a", "b"}, "a", false},
		{"first refused: next at once", map[string]plan{"a": {fail: true}, "b": {}}, []string{"a", "b"}, "b", false},
		{"first hangs: next after the stagger", map[string]plan{"a": {delay: time.Hour}, "b": {}}, []string{"a", "b"}, "b", false},
		{"slow first still wins over a slower second", map[string]plan{"a": {delay: 30 * time.Millisecond}, "b": {delay: time.Hour}}, []string{"a", "b"}, "a", false},
		{"all fail", map[string]plan{"a": {fail: true}, "b": {fail: true}}, []string{"a", "b"}, "", true},
		{"none", nil, nil, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var closed atomic.Int32
			dial := func(ctx context.Context, addr string) (fakeConn, error) {
				p := tc.plans[addr]
				select {
				case <-time.After(p.delay):
				case <-ctx.Done():
					return fakeConn{}, ctx.Err()
				}
				if p.fail {
					return fakeConn{}, errors.New("refused")
				}
				return fakeConn{addr: addr, closed: &closed}, nil
			}
			c, addr, err := dialFirst(context.Background(), tc.order, 50*time.Millisecond, dial)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err == nil && (addr != tc.want || c.addr != tc.want) {
				t.Fatalf("got %q (conn %q), want %q", addr, c.addr, tc.want)
			}
		})
	}
}

// TestReannounceOnAddressChange: when the addresses a device can be
// reached at change, its peers learn the new ones without a reconnect.
func TestReannounceOnAddressChange(t *testing.T) {
	srv := startServer(t, "alice")
	var extra atomic.Value
	extra.Store("")
	a := newDevice(t, srv, "alice", func(o *Options) {
		o.tune.dataAddrs = func() []string {
			own := []string{"127.0.0.1:1"}
			if e := extra.Load().(string); e != "" {
				own = append(own, e)
			}
			return own
		}
	})
	b := newDevice(t, srv, "alice")
	meet(t, a, b)
	seen := func() string {
		for _, d := range b.sw.Devices() {
			if d.Device == a.id.Device && d.Online {
				return d.DataAddr
			}
		}
		return ""
	}
	if got := seen(); got != "127.0.0.1:1" {
		t.Fatalf("b sees a at %q", got)
	}
	extra.Store("127.0.0.1:2")
	eventually(t, 10*time.Second, "b never learned a's new address", func() bool { return seen() == "127.0.0.1:1 127.0.0.1:2" })
}
