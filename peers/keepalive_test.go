package peers

import (
	"context"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// TestKeepaliveLatePongWhileBusy: a keepalive pong that comes late while
// stanzas keep arriving (a stream queued behind a throttled server) keeps
// the connection; with nothing arriving, the connection is dropped.
func TestKeepaliveLatePongWhileBusy(t *testing.T) {
	srv := startServer(t, "alice")
	a := newDevice(t, srv, "alice", func(o *Options) {
		o.tune.pingEvery, o.tune.pingTimeout = 100*time.Millisecond, 300*time.Millisecond
		o.tune.latePongs = true
	})
	b := newDevice(t, srv, "alice")
	meet(t, a, b)
	first := a.sess()
	aFull, _ := jid.MustParse("alice@" + srv.Domain).WithResource(a.sw.resource)

	// Busy: b sends a notify every 50 ms for 2 s (several late pongs).
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := b.sw.sendIQ(ctx, aFull, stanza.SetIQ, element("notify", []xmlAttr{attr("seq", "0")}, nil), nil)
		cancel()
		if err != nil {
			t.Fatalf("notify: %v (a dropped its busy connection?)", err)
		}
		time.Sleep(50 * time.Millisecond) // the pace of the traffic, not a synchronisation
	}
	if a.sess() != first {
		t.Fatal("a dropped its connection while stanzas kept arriving")
	}
	// Quiet: the next late pong drops the connection.
	eventually(t, 5*time.Second, "a kept a connection whose server sent nothing and answered no ping", func() bool { return a.sess() != first })
}
