package fusefs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/uberan/latus/meta"
)

// TestInvalidateShowsNewContent commits a version behind the kernel's back
// (as a remote merge does) and checks that stat and a reader see it right
// after Invalidate, inside the kernel's attribute timeout. (On the 6.18
// test kernel the open path alone already refreshes size and pages, since
// Open withholds FOPEN_KEEP_CACHE for a changed version; the deleted-entry
// test below is the one that fails without Invalidate.)
func TestInvalidateShowsNewContent(t *testing.T) {
	m := TestMount(t)
	p := filepath.Join(m.Dir, "f.txt")
	mustWrite(t, p, []byte("old content"))
	if _, err := os.Stat(p); err != nil { // cache the attributes
		t.Fatal(err)
	}
	if got := mustRead(t, p); string(got) != "old content" {
		t.Fatalf("first read = %q", got)
	}

	newData := []byte("new content, longer than before")
	refs, hash, size, err := m.Store.PutStream(bytes.NewReader(newData))
	if err != nil {
		t.Fatal(err)
	}
	vs, err := m.Meta.Commit([]meta.Change{{Kind: meta.Modified, Path: "f.txt", File: meta.FileVersion{
		Kind: meta.KindFile, Mode: 0o644, Size: size, MTime: time.Now(), Chunks: refs, Hash: hash,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	m.FS.Invalidate(vs)

	// Within the attribute timeout the kernel would still report the old
	// size; Invalidate drops the cached attributes.
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(len(newData)) {
		t.Fatalf("size after Invalidate = %d, want %d", fi.Size(), len(newData))
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, newData) {
		t.Fatalf("read after Invalidate = %q, want %q", got, newData)
	}
}

// TestInvalidateDropsDeletedEntry deletes a file behind the kernel's back
// while its entry and attributes are cached for entryTimeout: only
// Invalidate makes the next stat ask again and see ENOENT.
func TestInvalidateDropsDeletedEntry(t *testing.T) {
	m := TestMount(t)
	p := filepath.Join(m.Dir, "gone.txt")
	mustWrite(t, p, []byte("soon deleted"))
	if _, err := os.Stat(p); err != nil { // cache entry and attributes
		t.Fatal(err)
	}
	vs, err := m.Meta.Commit([]meta.Change{{Kind: meta.Deleted, Path: "gone.txt"}})
	if err != nil {
		t.Fatal(err)
	}
	m.FS.Invalidate(vs)
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("stat after remote delete and Invalidate: err = %v, want not exist", err)
	}
}
