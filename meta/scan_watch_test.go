package meta

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uberan/latus/chunks"
)

// countingPutter counts the files Import reads.
type countingPutter struct {
	MemPutter
	puts atomic.Int64
}

func (c *countingPutter) PutStream(r io.Reader) ([]chunks.Ref, chunks.ID, int64, error) {
	c.puts.Add(1)
	return c.MemPutter.PutStream(r)
}

// TestImportWithHooks: a rescan reads only changed files, ignored entries
// stay out, and every batch is reported once committed.
func TestImportWithHooks(t *testing.T) {
	dir := t.TempDir()
	write := func(p, s string) {
		t.Helper()
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		// Over InlineMax, so that every file read is a put.
		if err := os.WriteFile(full, []byte(s+strings.Repeat(".", InlineMax)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.txt", "a")
	write("b.txt", "b")
	write("skip/x.txt", "x")
	write("c.tmp", "c")
	db := TestDB(t, "dev1")
	var put countingPutter
	var batches [][]FileVersion
	opts := ImportOptions{
		Ignored:   func(rel string, isDir bool) bool { return rel == "skip" || filepath.Ext(rel) == ".tmp" },
		Committed: func(vs []FileVersion) { batches = append(batches, vs) },
	}
	if err := ImportWith(t.Context(), dir, db, &put, opts); err != nil {
		t.Fatal(err)
	}
	if n := put.puts.Load(); n != 2 {
		t.Errorf("first import read %d files, want 2", n)
	}
	if len(batches) != 1 || len(batches[0]) != 2 {
		t.Errorf("batches reported: %v", batches)
	}
	for _, p := range []string{"skip", "skip/x.txt", "c.tmp"} {
		if _, err := db.Lookup(p); err == nil {
			t.Errorf("ignored %s was imported", p)
		}
	}
	write("b.txt", "bb")
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "b.txt"), later, later); err != nil {
		t.Fatal(err)
	}
	put.puts.Store(0)
	batches = nil
	if err := ImportWith(t.Context(), dir, db, &put, opts); err != nil {
		t.Fatal(err)
	}
	if n := put.puts.Load(); n != 1 {
		t.Errorf("rescan read %d files, want 1 (only the changed one)", n)
	}
	if len(batches) != 1 || len(batches[0]) != 1 || batches[0][0].Path != "b.txt" {
		t.Errorf("rescan batches: %v", batches)
	}
}
