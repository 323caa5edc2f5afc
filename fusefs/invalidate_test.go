package fusefs

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path"
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

// TestEveryRemoteChangeShows applies each kind of remote change to a
// mount whose kernel has every entry, attribute and page cached (for
// minutes: entryTimeout), through a merge and Invalidate as the daemon
// does, and checks right after each that the mount shows what meta holds:
// a modify, a chmod, a new child in a listed folder, a file rename, a
// folder rename, a delete and a conflict copy.
func TestEveryRemoteChangeShows(t *testing.T) {
	m := TestMount(t)
	other := meta.TestDB(t, "other")
	// write commits data at p on the other device; its chunks go straight
	// into the mount's store, as if fetched.
	write := func(p, data string, mode uint32) {
		t.Helper()
		refs, hash, size, err := m.Store.PutStream(bytes.NewReader([]byte(data)))
		if err != nil {
			t.Fatal(err)
		}
		kind := meta.Modified
		if _, err := other.Lookup(p); errors.Is(err, meta.ErrNotFound) {
			kind = meta.Created
		}
		meta.TestCommit(t, other, meta.Change{Kind: kind, Path: p, File: meta.FileVersion{
			Kind: meta.KindFile, Mode: mode, Size: size, MTime: time.Now(), Chunks: refs, Hash: hash}})
	}
	merge := func() {
		t.Helper()
		for _, res := range meta.TestSync(t, m.Meta, other, 0) {
			m.FS.Invalidate(res.Applied)
		}
	}
	steps := []struct {
		name   string
		change func()
		want   map[string]string // path → content ("/" a folder), checked besides agreement with meta
		gone   []string
	}{
		{"create", func() {
			meta.TestMkdir(t, other, "d", time.Now())
			write("d/a", "alpha", 0o644)
			write("top", "top", 0o644)
		}, map[string]string{"d": "/", "d/a": "alpha", "top": "top"}, nil},
		{"modify", func() { write("d/a", "alpha, longer now", 0o644) }, map[string]string{"d/a": "alpha, longer now"}, nil},
		{"chmod", func() { write("top", "top", 0o600) }, map[string]string{"top": "top"}, nil},
		{"new child", func() { write("d/b", "bee", 0o644) }, map[string]string{"d/b": "bee"}, nil},
		{"rename file", func() {
			meta.TestCommit(t, other, meta.Change{Kind: meta.Renamed, From: "d/a", Path: "d/a2"})
		}, map[string]string{"d/a2": "alpha, longer now"}, []string{"d/a"}},
		{"rename folder", func() {
			meta.TestCommit(t, other, meta.Change{Kind: meta.Renamed, From: "d", Path: "e"})
		}, map[string]string{"e": "/", "e/a2": "alpha, longer now", "e/b": "bee"}, []string{"d", "d/a2", "d/b"}},
		{"delete", func() { meta.TestCommit(t, other, meta.Change{Kind: meta.Deleted, Path: "top"}) }, nil, []string{"top"}},
		{"conflict", func() {
			mustWrite(t, filepath.Join(m.Dir, "e", "b"), []byte("local edit")) // concurrent with the next
			write("e/b", "remote edit", 0o644)
		}, nil, nil},
	}
	for _, st := range steps {
		warm(t, m.Dir)
		st.change()
		merge()
		for p, want := range st.want {
			fi, err := os.Lstat(filepath.Join(m.Dir, p))
			if err != nil {
				t.Fatalf("%s: %s: %v", st.name, p, err)
			}
			if want == "/" {
				if !fi.IsDir() {
					t.Fatalf("%s: %s is not a folder", st.name, p)
				}
				continue
			}
			if got := mustRead(t, filepath.Join(m.Dir, p)); string(got) != want {
				t.Fatalf("%s: %s reads %q, want %q", st.name, p, got, want)
			}
		}
		for _, p := range st.gone {
			if _, err := os.Lstat(filepath.Join(m.Dir, p)); !os.IsNotExist(err) {
				t.Fatalf("%s: %s still shows (err %v)", st.name, p, err)
			}
		}
		agree(t, st.name, m, "")
	}
	ents, err := os.ReadDir(filepath.Join(m.Dir, "e"))
	if err != nil {
		t.Fatal(err)
	}
	copies := 0
	for _, e := range ents {
		if meta.IsConflictCopy(e.Name()) {
			copies++
		}
	}
	if copies != 1 {
		t.Fatalf("after concurrent edits e holds %v, want one conflict copy", ents)
	}
}

// warm reads everything under dir, so the kernel caches entries,
// attributes and pages.
func warm(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if _, err := os.Lstat(p); err != nil {
			return err
		}
		if e.Type().IsRegular() {
			_, err = os.ReadFile(p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// agree checks that the mount shows dir as meta holds it: the same names,
// and for each the same kind, mode, size and content, recursively.
func agree(t *testing.T, step string, m *Mounted, dir string) {
	t.Helper()
	vs, err := m.Meta.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(m.Dir, dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != len(vs) {
		t.Fatalf("%s: %q lists %d entries, meta %d", step, dir, len(ents), len(vs))
	}
	for i, v := range vs {
		if ents[i].Name() != path.Base(v.Path) {
			t.Fatalf("%s: %q lists %q where meta has %q", step, dir, ents[i].Name(), v.Path)
		}
		fi, err := os.Lstat(filepath.Join(m.Dir, v.Path))
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if uint32(fi.Mode().Perm()) != v.Mode&0o777 || fi.IsDir() != (v.Kind == meta.KindDir) {
			t.Fatalf("%s: %s shows mode %v, meta %o kind %v", step, v.Path, fi.Mode(), v.Mode, v.Kind)
		}
		if v.Kind == meta.KindDir {
			agree(t, step, m, v.Path)
			continue
		}
		if fi.Size() != v.Size {
			t.Fatalf("%s: %s shows size %d, meta %d", step, v.Path, fi.Size(), v.Size)
		}
	}
}
