package meta

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/uberan/latus/chunks"
)

// TestPutContent: the one rule every local writer stores content by.
func TestPutContent(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		inline bool
		chunks int
	}{
		{"empty", 0, false, 0},
		{"one byte", 1, true, 0},
		{"InlineMax", InlineMax, true, 0},
		{"InlineMax+1", InlineMax + 1, false, 1},
		{"several chunks", chunks.MaxChunk + 1, false, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := chunks.RandomBytes(uint64(tc.size), tc.size)
			var put MemPutter
			f, err := PutContent(&put, bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if f.Kind != KindFile || f.Size != int64(tc.size) || f.Hash != chunks.Sum(data) || f.IsInline() != tc.inline || len(f.Chunks) < tc.chunks || (tc.chunks == 0) != (len(f.Chunks) == 0) {
				t.Fatalf("%d bytes: size %d, inline %v, %d chunks", tc.size, f.Size, f.IsInline(), len(f.Chunks))
			}
			got, err := put.Content(f)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("content: %d bytes, %v", len(got), err)
			}
			f.MTime = t0
			if err := checkContent(&f); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestInlineLifecycle takes an inline file through every change the
// history store makes (modify, rename, restore, delete, restore from the
// trash, a conflict with another device, sync) and checks its bytes follow,
// with no chunk ever referenced.
func TestInlineLifecycle(t *testing.T) {
	a, b := TestDB(t, "A"), TestDB(t, "B")
	put := func(db *DB, p, s string) {
		t.Helper()
		kind := Created
		if _, err := db.Lookup(p); err == nil {
			kind = Modified
		}
		TestCommit(t, db, Change{Kind: kind, Path: p, File: InlineContent([]byte(s), t0)})
	}
	want := func(db *DB, p, s string) {
		t.Helper()
		v, err := db.Lookup(p)
		if err != nil {
			t.Fatalf("%s on %s: %v", p, db.Device(), err)
		}
		if string(v.Inline) != s || v.Size != int64(len(s)) || v.Hash != chunks.Sum([]byte(s)) || len(v.Chunks) != 0 {
			t.Fatalf("%s on %s: %q (size %d), want %q", p, db.Device(), v.Inline, v.Size, s)
		}
	}
	put(a, "f", "one")
	put(a, "f", "two")
	TestCommit(t, a, Change{Kind: Renamed, From: "f", Path: "g"})
	want(a, "g", "two")
	if _, err := a.Restore("f", 1); err != nil {
		t.Fatal(err)
	}
	want(a, "f", "one")
	TestCommit(t, a, Change{Kind: Deleted, Path: "f"})
	if _, err := a.RestoreDeleted("f", time.Time{}); err != nil {
		t.Fatal(err)
	}
	want(a, "f", "one")

	TestSync(t, b, a, 2)
	want(b, "f", "one")
	want(b, "g", "two")
	// Concurrent edits of g: one wins, the other is kept as a conflict
	// copy with its own inline bytes, on both devices alike.
	put(a, "g", strings.Repeat("a", InlineMax))
	put(b, "g", "bee")
	TestSync(t, b, a, 0)
	TestSync(t, a, b, 0)
	for _, db := range []*DB{a, b} {
		list, err := db.List("")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, v := range list {
			names = append(names, v.Path)
			if !v.IsInline() {
				t.Errorf("%s on %s is not inline", v.Path, db.Device())
			}
		}
		if len(list) != 3 {
			t.Fatalf("%s lists %v, want f, g and g's conflict copy", db.Device(), names)
		}
		if err := db.Refs(func(id chunks.ID) error {
			t.Errorf("%s references chunk %s", db.Device(), id.Short())
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}
