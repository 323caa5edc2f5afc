package peers

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/uberan/latus/internal/devices"
	"github.com/uberan/latus/internal/prosodytest"
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
	if err := m.sw.sendIQ(ctx, a1Full, stanza.SetIQ, element("notify", []xmlAttr{attr("seq", "1")}, nil), nil); !isForbidden(err) {
		t.Fatalf("notify from the impersonator: %v, want forbidden", err)
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

// knownState is the state d's registry holds for device dev.
func (d *testDevice) knownState(dev string) devices.State {
	rec, _ := d.sw.known.Lookup(dev)
	return rec.State
}

// notifyRefused reports whether to refuses a Latus IQ from from.
func notifyRefused(t *testing.T, from, to *testDevice) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	toFull, err := to.sw.bare.WithResource(to.sw.resource)
	if err != nil {
		t.Fatal(err)
	}
	return isForbidden(from.sw.sendIQ(ctx, toFull, stanza.SetIQ, element("notify", []xmlAttr{attr("seq", "1")}, nil), nil))
}

// newPersistentDevice is newDevice with the registry kept in a file, so
// that it survives a restart.
func newPersistentDevice(t *testing.T, srv *prosodytest.Server, user string, mod ...func(*Options)) *testDevice {
	t.Helper()
	dir := t.TempDir()
	return newDevice(t, srv, user, append(mod, func(o *Options) { o.KnownDevices = filepath.Join(dir, "devices.json") })...)
}

// TestRemovedDeviceRefusedViaThirdDevice: a removes b while c is offline;
// d learns of it from a; a leaves; c comes back, learns of the removal
// from d alone, and refuses b from then on: presence, IQs, data channel,
// history.
func TestRemovedDeviceRefusedViaThirdDevice(t *testing.T) {
	srv := startServer(t, "alice")
	a := newDevice(t, srv, "alice")
	b := newDevice(t, srv, "alice")
	c := newPersistentDevice(t, srv, "alice")
	var removed atomic.Value
	d := newDevice(t, srv, "alice", func(o *Options) { o.OnRemoved = func(dev string) { removed.Store(dev) } })
	meet(t, a, b, c, d)
	if err := a.sw.RemoveDevice(a.id.Device); !errors.Is(err, devices.ErrSelf) {
		t.Fatalf("removing the device itself: %v, want ErrSelf", err)
	}

	c.sw.Close()
	if err := a.sw.RemoveDevice(b.id.Device); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "d did not learn of b's removal", func() bool { return d.knownState(b.id.Device) == devices.Removed })
	eventually(t, 5*time.Second, "a and d still have b as a peer", func() bool { return !a.online(b.id.Device) && !d.online(b.id.Device) })
	if got, _ := removed.Load().(string); got != b.id.Device {
		t.Fatalf("d's OnRemoved saw %q, want %s", got, b.id.Device)
	}
	a.sw.Close()

	c.start()
	eventually(t, 10*time.Second, "c did not learn of b's removal from d", func() bool { return c.knownState(b.id.Device) == devices.Removed })
	eventually(t, 5*time.Second, "c still has b as a peer", func() bool { return !c.online(b.id.Device) })
	if !notifyRefused(t, b, c) {
		t.Fatal("c answers b's IQs")
	}
	if c.sw.trusted(b.id.Fingerprint) {
		t.Fatal("c's data channel trusts b's certificate")
	}
	// b's new history does not reach c; d's does.
	meta.TestWrite(t, b.meta, "from-b", []byte("b"), time.Now())
	b.sw.Notify()
	meta.TestWrite(t, d.meta, "from-d", []byte("d"), time.Now())
	d.sw.Notify()
	eventually(t, 5*time.Second, "c did not get d's commit", func() bool {
		_, err := c.meta.Lookup("from-d")
		return err == nil
	})
	if _, err := c.meta.Lookup("from-b"); err == nil {
		t.Fatal("c merged a version from the removed device")
	}
}

// TestPendingUntilApproved: with RequireApproval, a new device of the
// account is refused until approved, and an approval made on one device
// lets it in on another that requires approval too.
func TestPendingUntilApproved(t *testing.T) {
	srv := startServer(t, "alice")
	strict := func(o *Options) { o.Config.RequireApproval = true }
	a := newDevice(t, srv, "alice", strict)
	c := newDevice(t, srv, "alice", strict)
	eventually(t, 5*time.Second, "a and c do not see each other pending", func() bool {
		return a.knownState(c.id.Device) == devices.Pending && c.knownState(a.id.Device) == devices.Pending
	})
	if err := a.sw.ApproveDevice(c.id.Device); err != nil {
		t.Fatal(err)
	}
	if err := c.sw.ApproveDevice(a.id.Device); err != nil {
		t.Fatal(err)
	}
	meet(t, a, c)

	n := newDevice(t, srv, "alice")
	eventually(t, 5*time.Second, "a does not list n as pending", func() bool { return a.knownState(n.id.Device) == devices.Pending })
	if a.online(n.id.Device) || !notifyRefused(t, n, a) {
		t.Fatal("a serves a device that waits for approval")
	}
	meta.TestWrite(t, n.meta, "from-n", []byte("n"), time.Now())
	n.sw.Notify()

	if err := a.sw.ApproveDevice(n.id.Device); err != nil {
		t.Fatal(err)
	}
	// c learns of the approval from a and lets n in without being asked.
	eventually(t, 5*time.Second, "c did not take a's approval of n", func() bool { return c.knownState(n.id.Device) == devices.Approved })
	meet(t, a, c, n)
	eventually(t, 5*time.Second, "a did not pull n's commit after approving it", func() bool {
		_, err := a.meta.Lookup("from-n")
		return err == nil
	})
}
