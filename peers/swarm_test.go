package peers

import (
	"context"
	"errors"
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
	eventually(t, 5*time.Second, "a's Devices() does not show both peers online with their index merged", func() bool {
		ds := a.sw.Devices()
		for _, d := range ds {
			if !d.Online || d.Seq == 0 || d.DataAddr == "" {
				return false
			}
		}
		return len(ds) == 2
	})
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

func TestStartErrors(t *testing.T) {
	srv := startServer(t, "alice")
	d := newDevice(t, srv, "alice")
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want error
	}{
		{"wrong password", func(c *Config) { c.Password = "wrong" }, ErrAuth},
		{"unknown account", func(c *Config) { c.JID = "nobody@" + srv.Domain }, ErrAuth},
		{"untrusted certificate", func(c *Config) { c.Insecure = false }, ErrUntrustedServer},
		{"unreachable", func(c *Config) { c.Server = "127.0.0.1:1" }, ErrUnreachable},
		{"bare JID required", func(c *Config) { c.JID = "alice" }, ErrConfig},
		{"bad allow", func(c *Config) { c.Allow = []string{"x@y/r"} }, ErrConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := d.opts
			opts.Config.Allow = nil
			tc.mod(&opts.Config)
			sw, err := Start(context.Background(), opts)
			if err == nil {
				sw.Close()
				t.Fatal("Start succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Start: %v, want %v", err, tc.want)
			}
		})
	}
	// The device that did log in reports itself nowhere but sees nothing wrong.
	if got := d.sw.Devices(); len(got) != 0 {
		t.Fatalf("devices of a lone device: %+v", got)
	}
}
