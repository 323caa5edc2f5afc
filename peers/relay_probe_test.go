package peers

import (
	"context"
	"encoding/xml"
	"io"
	"net"
	"testing"
	"time"

	"mellium.im/xmpp/stanza"
)

func TestProbeRelay(t *testing.T) {
	srv := startServer(t, "alice")
	a := newDevice(t, srv, "alice")
	b := newDevice(t, srv, "alice")
	meet(t, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sh, err := a.sw.findProxy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var d net.Dialer
	pair := func(req, tgt *testDevice) (net.Conn, net.Conn) {
		sid := randomSID()
		cb, err := socks5Connect(ctx, &d, sh.Addr, streamHash(sid, req.sw.fullJID(), tgt.sw.fullJID()))
		if err != nil {
			t.Fatal(err)
		}
		ca, err := socks5Connect(ctx, &d, sh.Addr, streamHash(sid, req.sw.fullJID(), tgt.sw.fullJID()))
		if err != nil {
			t.Fatal(err)
		}
		activate := bsElement("query", []xml.Attr{attr("sid", sid)}, bsElement("activate", nil, chars(tgt.sw.fullJID().String())))
		if err := req.sw.sendIQ(ctx, sh.JID, stanza.SetIQ, activate, nil); err != nil {
			t.Fatal(err)
		}
		return ca, cb
	}
	ca, cb := pair(a, b)
	for round := range 4 {
		if round == 1 {
			pair(b, a)
		}
		start := time.Now()
		done := make(chan error, 1)
		go func() {
			req := make([]byte, 40)
			if _, err := io.ReadFull(cb, req); err != nil {
				done <- err
				return
			}
			_, err := cb.Write(make([]byte, 100<<10))
			done <- err
		}()
		ca.Write(make([]byte, 40))
		ca.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := io.ReadFull(ca, make([]byte, 100<<10))
		t.Logf("round %d: %d bytes in %v, err %v / %v", round, n, time.Since(start), err, <-done)
	}
}
