package main

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

// TestPrunerRun: a policy run prunes the versions the policy drops,
// collects the chunks only they referenced, and counts them by reason; a
// dry run before it changes nothing and predicts the same.
func TestPrunerRun(t *testing.T) {
	db := meta.TestDB(t, "dev1")
	dir := t.TempDir()
	store, err := chunks.Open(chunks.Options{Dir: filepath.Join(dir, "chunks"), Mark: markRefs(db)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	p := &pruner{db: db, store: store, policy: meta.DefaultPolicy(), log: slog.New(slog.DiscardHandler)}

	old := time.Now().Add(-2 * 365 * 24 * time.Hour)
	for i := range 3 {
		data := chunks.RandomBytes(uint64(i), 300<<10)
		release := store.Hold()
		refs, hash, size, err := store.PutStream(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		kind := meta.Created
		if i > 0 {
			kind = meta.Modified
		}
		meta.TestCommit(t, db, meta.Change{Kind: kind, Path: "f", File: meta.FileVersion{
			Kind: meta.KindFile, Mode: 0o644, Size: size, MTime: old.Add(time.Duration(i) * time.Hour), Chunks: refs, Hash: hash}})
		release()
	}
	used := store.Usage().Used

	dry, err := p.run(true)
	if err != nil || dry.Versions != 2 || dry.Bytes != 2*300<<10 || dry.Chunks != 0 {
		t.Fatalf("dry run = %+v, %v; want 2 versions of 300 KiB, nothing collectable yet", dry, err)
	}
	if store.Usage().Used != used || p.byPolicy.Load() != 0 || p.last.Load() != nil {
		t.Fatal("a dry run changed something")
	}
	got, err := p.run(false)
	if err != nil || got.Versions != 2 || got.Chunks != 2 || got.Freed != 2*300<<10 {
		t.Fatalf("run = %+v, %v; want 2 versions pruned, their 2 chunks collected", got, err)
	}
	if store.Usage().Used != 300<<10 || p.byPolicy.Load() != 2 || p.byPressure.Load() != 0 {
		t.Fatalf("after the run: usage %+v, by policy %d, by pressure %d", store.Usage(), p.byPolicy.Load(), p.byPressure.Load())
	}
	if h, _ := db.History("f"); len(h) != 1 {
		t.Fatalf("%d versions kept, want the current one", len(h))
	}
}
