package peers

import (
	"context"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/uberan/latus/meta"
)

// TestAllowAddsAccounts: a device whose Allow names only a friend's
// account still has its own account's devices as peers.
func TestAllowAddsAccounts(t *testing.T) {
	srv := startServer(t, "alice", "bob")
	friend := func(o *Options) { o.Config.Allow = []string{"bob@" + srv.Domain} }
	a1 := newDevice(t, srv, "alice", friend)
	a2 := newDevice(t, srv, "alice", friend)
	b := newDevice(t, srv, "bob", func(o *Options) { o.Config.Allow = []string{"alice@" + srv.Domain} })
	meet(t, a1, a2, b)
	meta.TestWrite(t, a2.meta, "own", []byte("x"), time.Now())
	a2.sw.Notify()
	eventually(t, 5*time.Second, "a1 did not get a2's commit", func() bool {
		_, err := a1.meta.Lookup("own")
		return err == nil
	})
}

// TestDeviceIDTakeoverRefused: an allowed friend's device announcing one
// of alice's device ids with another certificate is refused, and alice's
// device keeps its peer and its pull position.
func TestDeviceIDTakeoverRefused(t *testing.T) {
	srv := startServer(t, "alice", "bob")
	friend := func(o *Options) { o.Config.Allow = []string{"bob@" + srv.Domain} }
	a1 := newDevice(t, srv, "alice", friend)
	a2 := newDevice(t, srv, "alice", friend)
	meet(t, a1, a2)
	meta.TestWrite(t, a2.meta, "from-a2", []byte("x"), time.Now())
	a2.sw.Notify()
	eventually(t, 5*time.Second, "a1 did not pull a2", func() bool {
		_, err := a1.meta.Lookup("from-a2")
		return err == nil
	})
	pos, err := a1.meta.PeerPos(a2.id.Device)
	if err != nil || pos == 0 {
		t.Fatalf("a1's position for a2: %d, %v", pos, err)
	}

	// Same device id (the fingerprint's prefix), another certificate.
	fake := a2.id.Device + strings.Repeat("0", 64-len(a2.id.Device))
	if fake == a2.id.Fingerprint {
		fake = a2.id.Device + strings.Repeat("1", 64-len(a2.id.Device))
	}
	m := newDevice(t, srv, "bob", func(o *Options) {
		o.Config.Allow = []string{"alice@" + srv.Domain}
		o.tune.impersonate = fake
	})
	// m's directed presence reaches a1 before this IQ's answer: a1 has
	// handled it by then.
	var sess *xmpp.Session
	eventually(t, 5*time.Second, "the impersonator never logged in", func() bool {
		sess, _, err = m.sw.session()
		return err == nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.sw.sendPresence(ctx, sess); err != nil {
		t.Fatal(err)
	}
	a1Full, _ := jid.MustParse("alice@" + srv.Domain).WithResource(a1.sw.resource)
	if err := m.sw.sendIQ(ctx, a1Full, stanza.SetIQ, element("notify", []xmlAttr{attr("seq", "1")}, nil), nil); err != nil {
		t.Fatalf("notify from the impersonator: %v", err)
	}
	p := a1.peer(t, a2)
	if p.fingerprint != a2.id.Fingerprint || !p.jid.Bare().Equal(jid.MustParse("alice@"+srv.Domain)) {
		t.Fatalf("a1's peer %s is now %s with %.16s", a2.id.Device, p.jid, p.fingerprint)
	}
	if got, _ := a1.meta.PeerPos(a2.id.Device); got != pos {
		t.Fatalf("a1's position for %s moved from %d to %d", a2.id.Device, pos, got)
	}
	if a1.sw.trusted(fake) {
		t.Fatal("a1's data channel trusts the impersonator's certificate")
	}
}
