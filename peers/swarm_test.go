package peers

import (
	"testing"
	"time"

	"github.com/uberan/latus/meta"
)

func TestPresence(t *testing.T) {
	srv := startServer(t, "alice")
	a := newDevice(t, srv, "alice")
	b := newDevice(t, srv, "alice")
	meet(t, a, b)
	c := newDevice(t, srv, "alice")
	meet(t, a, b, c)
	c.sw.Close()
	eventually(t, 5*time.Second, "a still sees c online after it left", func() bool { return !a.online(c.id.Device) })
	if !a.online(b.id.Device) {
		t.Fatal("a lost b when c left")
	}
}

func TestCommitPropagates(t *testing.T) {
	srv := startServer(t, "alice")
	a := newDevice(t, srv, "alice")
	b := newDevice(t, srv, "alice")
	c := newDevice(t, srv, "alice")
	meet(t, a, b, c)
	for i, from := range []*testDevice{a, b, c} {
		p := "file" + string(rune('a'+i))
		meta.TestWrite(t, from.meta, p, []byte("hello from "+from.id.Device), time.Now())
		from.sw.Notify()
		start := time.Now()
		for _, to := range []*testDevice{a, b, c} {
			eventually(t, time.Second, to.id.Device+" did not get "+p, func() bool {
				_, err := to.meta.Lookup(p)
				return err == nil
			})
		}
		t.Logf("%s reached all devices in %v", p, time.Since(start))
	}
}

func TestOtherAllowedAccount(t *testing.T) {
	srv := startServer(t, "alice", "bob")
	both := func(o *Options) { o.Config.Allow = []string{"alice@" + srv.Domain, "bob@" + srv.Domain} }
	a := newDevice(t, srv, "alice", both)
	b := newDevice(t, srv, "bob", both)
	meet(t, a, b)
	meta.TestWrite(t, b.meta, "from-bob", []byte("hi"), time.Now())
	b.sw.Notify()
	eventually(t, time.Second, "alice did not get bob's commit", func() bool {
		_, err := a.meta.Lookup("from-bob")
		return err == nil
	})
	b.sw.Close()
	eventually(t, 5*time.Second, "alice still sees bob after he left", func() bool { return !a.online(b.id.Device) })
}
