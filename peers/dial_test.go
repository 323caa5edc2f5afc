package peers

import (
	"context"
	"net"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// fakeDNS answers, on loopback UDP, the SRV record of
// _xmpp-client._tcp.<domain> (target xmpp.<domain>, port) and the A
// record of its target (127.0.0.1); any other question gets no answer.
func fakeDNS(t *testing.T, domain string, port uint16) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	target := dnsmessage.MustNewName("xmpp." + domain + ".")
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			b.EnableCompression()
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
			name := strings.ToLower(q.Name.String())
			switch {
			case q.Type == dnsmessage.TypeSRV && name == "_xmpp-client._tcp."+domain+".":
				b.SRVResource(rh, dnsmessage.SRVResource{Priority: 0, Weight: 1, Port: port, Target: target})
			case q.Type == dnsmessage.TypeA && name == target.String():
				b.AResource(rh, dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}})
			}
			msg, err := b.Finish()
			if err == nil {
				pc.WriteTo(msg, from)
			}
		}
	}()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
}

// TestServerBySRV: with no Config.Server, a device finds the XMPP server
// on its non-standard port through the domain's SRV record.
func TestServerBySRV(t *testing.T) {
	srv := startServer(t, "alice")
	res := fakeDNS(t, srv.Domain, uint16(srv.Port))
	bySRV := func(o *Options) {
		o.Config.Server = ""
		o.tune.resolver = res
	}
	a := newDevice(t, srv, "alice", bySRV)
	b := newDevice(t, srv, "alice")
	meet(t, a, b)
}
