package meta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/uberan/latus/chunks"
)

// makeTree writes a small tree under dir and returns the content of every
// regular file by relative path.
func makeTree(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	files := map[string][]byte{
		"empty":              {},
		"a.txt":              []byte("hello"),
		"docs/readme.md":     []byte("# readme\n"),
		"docs/deep/x/y.bin":  randBytes(r, 3000),
		"big.bin":            randBytes(r, chunks.MaxChunk+chunks.MinChunk+17),
		"spaces in name.txt": []byte("s"),
		"docs/.hidden":       []byte("h"),
	}
	for p, data := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Chmod(filepath.Join(dir, "a.txt"), 0o755|os.ModeSetuid))
	must(os.Mkdir(filepath.Join(dir, "emptydir"), 0o700))
	must(os.Symlink("a.txt", filepath.Join(dir, "link")))
	must(os.Symlink("../nowhere", filepath.Join(dir, "docs/dangling")))
	must(syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	must(os.MkdirAll(filepath.Join(dir, ".latus/chunks"), 0o755))
	must(os.WriteFile(filepath.Join(dir, ".latus/chunks/x"), []byte("state"), 0o644))
	return files
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestImport(t *testing.T) {
	dir := t.TempDir()
	files := makeTree(t, dir)
	db := TestDB(t, "dev1")
	store := &MemPutter{}
	var last ImportProgress
	calls := 0
	err := Import(context.Background(), dir, db, store, func(p ImportProgress) { last = p; calls++ })
	if err != nil {
		t.Fatal(err)
	}

	for p, data := range files {
		v, err := db.Lookup(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		got, err := store.Content(v)
		if err != nil {
			t.Fatal(err)
		}
		if v.Kind != KindFile || !bytes.Equal(got, data) || v.Hash != chunks.Sum(data) || v.Size != int64(len(data)) {
			t.Errorf("%s: kind %v size %d, content matches: %v", p, v.Kind, v.Size, bytes.Equal(got, data))
		}
	}
	tests := []struct {
		path   string
		kind   Kind
		mode   uint32
		target string
	}{
		{"a.txt", KindFile, 0o4755, ""},
		{"empty", KindFile, 0o640, ""},
		{"docs", KindDir, 0o755, ""},
		{"emptydir", KindDir, 0o700, ""},
		{"link", KindSymlink, 0o777, "a.txt"},
		{"docs/dangling", KindSymlink, 0o777, "../nowhere"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			v, err := db.Lookup(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if v.Kind != tc.kind || v.Mode != tc.mode || v.Target != tc.target {
				t.Fatalf("%s = %v %#o %q, want %v %#o %q", tc.path, v.Kind, v.Mode, v.Target, tc.kind, tc.mode, tc.target)
			}
		})
	}
	for _, p := range []string{"fifo", ".latus", ".latus/chunks/x"} {
		if _, err := db.Lookup(p); !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrInvalidPath) {
			t.Errorf("%s imported: %v", p, err)
		}
	}
	root, _ := db.List("")
	want := []string{"a.txt", "big.bin", "docs", "empty", "emptydir", "link", "spaces in name.txt"}
	if !slices.Equal(names(root), want) {
		t.Fatalf("root = %v, want %v", names(root), want)
	}
	var total int64
	for _, d := range files {
		total += int64(len(d))
	}
	if last.Files != last.TotalFiles || last.TotalFiles != 14 || last.Bytes != total || last.TotalBytes != total || calls != 14 {
		t.Fatalf("last progress = %+v after %d calls, want 14 entries and %d bytes", last, calls, total)
	}

	// Importing again records nothing; a changed file gets one version.
	seq := db.IndexSeq()
	if err := Import(context.Background(), dir, db, store, nil); err != nil {
		t.Fatal(err)
	}
	if db.IndexSeq() != seq {
		t.Fatalf("re-import of an unchanged tree recorded %d versions", db.IndexSeq()-seq)
	}
	if err := os.WriteFile(filepath.Join(dir, "docs/readme.md"), []byte("changed"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := Import(context.Background(), dir, db, store, nil); err != nil {
		t.Fatal(err)
	}
	if v, _ := db.Lookup("docs/readme.md"); db.IndexSeq() != seq+1 || v.Change != Modified || v.Hash != chunks.Sum([]byte("changed")) {
		t.Fatalf("re-import after a change: %d versions, %+v", db.IndexSeq()-seq, v)
	}

	if err := Import(context.Background(), filepath.Join(dir, "a.txt"), db, store, nil); err == nil {
		t.Fatal("imported a regular file as a tree")
	}
}

// TestImportBatches: commits land every ImportBatch entries, and a
// cancelled import keeps the batches already committed.
func TestImportBatches(t *testing.T) {
	dir := t.TempDir()
	n := ImportBatch + 100
	for i := range n {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d", i)), []byte{byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db := TestDB(t, "dev1")
	var seen []uint64
	err := ImportWith(context.Background(), dir, db, &MemPutter{}, ImportOptions{Committed: func([]FileVersion) {
		seen = append(seen, db.IndexSeq())
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, []uint64{ImportBatch, uint64(n)}) || db.IndexSeq() != uint64(n) {
		t.Fatalf("index positions at each batch = %v, end %d", seen, db.IndexSeq())
	}

	db2 := TestDB(t, "dev2")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err = Import(ctx, dir, db2, &MemPutter{}, func(p ImportProgress) {
		if p.Files == ImportBatch+50 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled import = %v", err)
	}
	if db2.IndexSeq() != ImportBatch {
		t.Fatalf("cancelled import kept %d versions, want the first batch (%d)", db2.IndexSeq(), ImportBatch)
	}
}
