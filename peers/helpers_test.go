package peers

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/internal/identity"
	"github.com/uberan/latus/internal/prosodytest"
	"github.com/uberan/latus/meta"
)

const testPass = "correct horse"

// testDevice is one device: identity, history, chunk store, swarm.
type testDevice struct {
	t      testing.TB
	dir    string
	id     *identity.Identity
	meta   *meta.DB
	store  *chunks.Store
	sw     *Swarm
	opts   Options
	merged atomic.Int64
}

func fastTuning() *tuning {
	tu := defaultTuning()
	tu.minBackoff, tu.maxBackoff = 50*time.Millisecond, 400*time.Millisecond
	tu.pingEvery, tu.pingTimeout = time.Second, 5*time.Second
	tu.loginTimeout, tu.iqTimeout = 5*time.Second, 10*time.Second
	tu.dialRetry = time.Second
	return &tu
}

// newDevice creates a device of account user@Domain and starts its swarm.
func newDevice(t testing.TB, srv *prosodytest.Server, user string, mod ...func(*Options)) *testDevice {
	t.Helper()
	d := &testDevice{t: t, dir: t.TempDir()}
	var err error
	if d.id, err = identity.LoadOrCreate(filepath.Join(d.dir, "identity")); err != nil {
		t.Fatal(err)
	}
	d.meta = meta.TestDB(t, d.id.Device)
	d.store = chunks.TestStore(t)
	d.opts = Options{
		Config:   Config{JID: user + "@" + srv.Domain, Password: testPass, Server: srv.Addr, Insecure: true, DataAddr: "127.0.0.1:0"},
		Identity: d.id, Meta: d.meta, Store: d.store,
		OnMerged: func(meta.MergeResult) { d.merged.Add(1) },
		Logger:   testLogger(t),
		tune:     fastTuning(),
	}
	for _, m := range mod {
		m(&d.opts)
	}
	d.start()
	return d
}

func (d *testDevice) start() {
	d.t.Helper()
	sw, err := Start(context.Background(), d.opts)
	if err != nil {
		d.t.Fatalf("start device %s: %v", d.id.Device, err)
	}
	d.sw = sw
	d.t.Cleanup(func() { sw.Close() })
}

// online reports whether d sees device dev online.
func (d *testDevice) online(dev string) bool {
	for _, s := range d.sw.Devices() {
		if s.Device == dev {
			return s.Online
		}
	}
	return false
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// meet waits until every device sees every other one online.
func meet(t testing.TB, ds ...*testDevice) {
	t.Helper()
	for _, a := range ds {
		for _, b := range ds {
			if a != b {
				eventually(t, 5*time.Second, fmt.Sprintf("%s does not see %s online", a.id.Device, b.id.Device), func() bool { return a.online(b.id.Device) })
			}
		}
	}
}

// sourceFor returns a's Source for device b.
func (a *testDevice) sourceFor(t testing.TB, b *testDevice) chunks.Source {
	t.Helper()
	for _, s := range a.sw.Sources() {
		if s.Name() == b.id.Device {
			return s
		}
	}
	t.Fatalf("%s has no source for %s", a.id.Device, b.id.Device)
	return nil
}

func (a *testDevice) peer(t testing.TB, b *testDevice) *peer {
	t.Helper()
	a.sw.mu.Lock()
	defer a.sw.mu.Unlock()
	p := a.sw.peers[b.id.Device]
	if p == nil {
		t.Fatalf("%s does not know %s", a.id.Device, b.id.Device)
	}
	return p
}

func startServer(t testing.TB, users ...string) *prosodytest.Server {
	srv := prosodytest.Start(t)
	for _, u := range users {
		srv.Register(t, u, testPass)
	}
	return srv
}

// testLogger logs at debug level when LATUS_TEST_DEBUG is set.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("LATUS_TEST_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return meta.TestLogger(t)
}

// transportTo is what carries a's data channel to b now ("" if none).
func (a *testDevice) transportTo(t testing.TB, b *testDevice) string {
	t.Helper()
	p := a.peer(t, b)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dc == nil || !p.dc.alive() {
		return ""
	}
	return p.dc.transport
}
