package peers

import (
	"context"
	"encoding/xml"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/engine"
	"github.com/uberan/latus/meta"
)

// lateKeeper lets a device's engine be made after its swarm, whose
// Sources the engine's fetcher needs.
type lateKeeper struct{ e atomic.Pointer[engine.Engine] }

func (k *lateKeeper) HandleKeep(ctx context.Context, from string, req engine.KeepRequest) []engine.KeepAnswer {
	if e := k.e.Load(); e != nil {
		return e.HandleKeep(ctx, from, req)
	}
	return nil
}

// withEngine starts d's engine over its swarm.
func withEngine(t *testing.T, d *testDevice, k *lateKeeper) *engine.Engine {
	t.Helper()
	f := chunks.NewFetcher(d.store, chunks.FetcherOptions{Sources: d.sw.Sources, Logger: meta.TestLogger(t)})
	e, err := engine.New(engine.Options{Store: d.store, Fetcher: f, Meta: d.meta, Logger: testLogger(t), RetryEvery: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e.SetNetwork(d.sw)
	e.Start()
	k.e.Store(e)
	t.Cleanup(func() {
		e.Close()
		f.Close()
	})
	return e
}

// A chunk written on one device is kept by the other through keep IQs,
// proved, and then handed over under pressure.
func TestKeepThroughTheServer(t *testing.T) {
	srv := startServer(t, "alice")
	var ka, kb lateKeeper
	a := newDevice(t, srv, "alice", func(o *Options) { o.Keeper = &ka })
	b := newDevice(t, srv, "alice", func(o *Options) { o.Keeper = &kb })
	meet(t, a, b)
	ea := withEngine(t, a, &ka)
	withEngine(t, b, &kb)
	data := chunks.RandomBytes(31, 2<<20)
	id, err := a.store.Put(data)
	if err != nil {
		t.Fatal(err)
	}
	ea.Committed([]meta.FileVersion{{Path: "x"}})
	eventually(t, 10*time.Second, "b never kept a's chunk", func() bool {
		in, _ := b.store.Stat(id)
		ia, _ := a.store.Stat(id)
		return in.Custody && slices.Contains(ia.Holders, b.id.Device)
	})
	ea.HandOff(1)
	ia, _ := a.store.Stat(id)
	ib, _ := b.store.Stat(id)
	if ia.Custody || !ib.Custody {
		t.Fatalf("after relief: a %+v, b %+v", ia, ib)
	}
}

func TestKeepWireForm(t *testing.T) {
	req := engine.KeepRequest{Release: true, Nonce: chunks.Nonce{9}, Chunks: []engine.KeepChunk{{ID: chunks.Sum([]byte("a")), Size: 10}, {ID: chunks.Sum([]byte("b")), Size: 20}}}
	var buf []byte
	w := &sliceWriter{&buf}
	if err := writeTokens(w, keepRequestTokens(req)); err != nil {
		t.Fatal(err)
	}
	var q keepQuery
	if err := xml.Unmarshal(buf, &q); err != nil {
		t.Fatal(err)
	}
	got, err := q.request()
	if err != nil {
		t.Fatal(err)
	}
	if got.Release != req.Release || got.Nonce != req.Nonce || !slices.Equal(got.Chunks, req.Chunks) {
		t.Errorf("request round trip: %+v, want %+v", got, req)
	}
	as := []engine.KeepAnswer{{ID: req.Chunks[0].ID, Code: engine.KeepOK, Proof: chunks.Proof{7}}, {ID: req.Chunks[1].ID, Code: engine.KeepFull}}
	buf = buf[:0]
	if err := writeTokens(w, keptTokens(req.Nonce, as)); err != nil {
		t.Fatal(err)
	}
	var kq keptQuery
	if err := xml.Unmarshal(buf, &kq); err != nil {
		t.Fatal(err)
	}
	gotA, err := keepQuery{Chunks: kq.Chunks}.answers()
	if err != nil || !slices.Equal(gotA, as) {
		t.Errorf("answers round trip: %+v, %v; want %+v", gotA, err, as)
	}
	if len(buf) > 16<<10 {
		t.Errorf("a keep answer of %d chunks is %d bytes", len(as), len(buf))
	}
}

type sliceWriter struct{ b *[]byte }

func (w *sliceWriter) Write(p []byte) (int, error) { *w.b = append(*w.b, p...); return len(p), nil }

// liar claims to keep every chunk without holding any.
type liar struct{}

func (liar) HandleKeep(ctx context.Context, from string, req engine.KeepRequest) []engine.KeepAnswer {
	out := make([]engine.KeepAnswer, len(req.Chunks))
	for i, c := range req.Chunks {
		out[i] = engine.KeepAnswer{ID: c.ID, Code: engine.KeepOK, Proof: chunks.ProofOf(req.Nonce, nil)}
	}
	return out
}

// A device that claims over the wire to keep chunks it does not hold is
// never counted as a keeper, so the writer's copy is never released to it.
func TestFalseKeepClaimsReleaseNothing(t *testing.T) {
	srv := startServer(t, "alice")
	var ka lateKeeper
	a := newDevice(t, srv, "alice", func(o *Options) { o.Keeper = &ka })
	b := newDevice(t, srv, "alice", func(o *Options) { o.Keeper = liar{} })
	meet(t, a, b)
	ea := withEngine(t, a, &ka)
	id, err := a.store.Put(chunks.RandomBytes(32, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	ea.Committed([]meta.FileVersion{{Path: "x"}})
	eventually(t, 10*time.Second, "the false claim is never caught", func() bool { return ea.Stats().BadProofs > 0 })
	ea.HandOff(1 << 30)
	in, _ := a.store.Stat(id)
	if !in.Custody || len(in.Holders) != 0 || ea.Stats().Released != 0 {
		t.Fatalf("after a false claim and pressure: %+v, %+v", in, ea.Stats())
	}
}
