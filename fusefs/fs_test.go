package fusefs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

func mustWrite(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFileOperations(t *testing.T) {
	big := chunks.RandomBytes(1, 9<<20) // several chunks
	tests := []struct {
		name string
		run  func(t *testing.T, dir string) (path string, want []byte)
	}{
		{"write and read back", func(t *testing.T, dir string) (string, []byte) {
			p := filepath.Join(dir, "a")
			mustWrite(t, p, big)
			return p, big
		}},
		{"append", func(t *testing.T, dir string) (string, []byte) {
			p := filepath.Join(dir, "a")
			mustWrite(t, p, []byte("hello "))
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("world"))
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			return p, []byte("hello world")
		}},
		{"overwrite in the middle across chunks", func(t *testing.T, dir string) (string, []byte) {
			p := filepath.Join(dir, "a")
			mustWrite(t, p, big)
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			patch := bytes.Repeat([]byte("x"), 3<<20)
			if _, err := f.WriteAt(patch, 4<<20); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			want := bytes.Clone(big)
			copy(want[4<<20:], patch)
			return p, want
		}},
		{"truncate shrink and grow", func(t *testing.T, dir string) (string, []byte) {
			p := filepath.Join(dir, "a")
			mustWrite(t, p, big)
			if err := os.Truncate(p, 5<<20+7); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(p, 6<<20); err != nil {
				t.Fatal(err)
			}
			want := append(bytes.Clone(big[:5<<20+7]), make([]byte, 6<<20-(5<<20+7))...)
			return p, want
		}},
		{"rename across dirs over an existing file", func(t *testing.T, dir string) (string, []byte) {
			if err := os.MkdirAll(filepath.Join(dir, "x/y/z"), 0o755); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, filepath.Join(dir, "x/src"), []byte("new"))
			mustWrite(t, filepath.Join(dir, "x/y/z/dst"), []byte("old"))
			if err := os.Rename(filepath.Join(dir, "x/src"), filepath.Join(dir, "x/y/z/dst")); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, "x/src")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("source still there: %v", err)
			}
			return filepath.Join(dir, "x/y/z/dst"), []byte("new")
		}},
		{"rename a directory", func(t *testing.T, dir string) (string, []byte) {
			os.MkdirAll(filepath.Join(dir, "d1/sub"), 0o755)
			mustWrite(t, filepath.Join(dir, "d1/sub/f"), []byte("deep"))
			if err := os.Rename(filepath.Join(dir, "d1"), filepath.Join(dir, "d2")); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(dir, "d2/sub/f"), []byte("deep")
		}},
		{"symlink", func(t *testing.T, dir string) (string, []byte) {
			mustWrite(t, filepath.Join(dir, "target"), []byte("pointed"))
			if err := os.Symlink("target", filepath.Join(dir, "link")); err != nil {
				t.Fatal(err)
			}
			if got, err := os.Readlink(filepath.Join(dir, "link")); err != nil || got != "target" {
				t.Fatalf("readlink = %q, %v", got, err)
			}
			return filepath.Join(dir, "link"), []byte("pointed")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := TestMount(t)
			p, want := tc.run(t, m.Dir)
			if got := mustRead(t, p); !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes, want %d (equal prefix? %v)", len(got), len(want), bytes.HasPrefix(want, got))
			}
		})
	}
}

func TestChmodRmAndErrors(t *testing.T) {
	m := TestMount(t)
	p := filepath.Join(m.Dir, "f")
	mustWrite(t, p, []byte("x"))
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode after chmod: %v, %v", st.Mode(), err)
	}
	os.MkdirAll(filepath.Join(m.Dir, "a/b/c"), 0o755)
	mustWrite(t, filepath.Join(m.Dir, "a/b/c/f"), []byte("1"))
	if err := os.Remove(filepath.Join(m.Dir, "a")); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("rmdir of non-empty: %v, want ENOTEMPTY", err)
	}
	if err := os.RemoveAll(filepath.Join(m.Dir, "a")); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(m.Dir); len(ents) != 1 {
		t.Fatalf("after rm -r: %d entries, want 1", len(ents))
	}
	if err := os.Link(p, filepath.Join(m.Dir, "hard")); err == nil {
		t.Fatal("hard link succeeded; want an error")
	}
}

func TestEveryCloseIsAVersion(t *testing.T) {
	m := TestMount(t)
	p := filepath.Join(m.Dir, "doc.txt")
	for _, s := range []string{"one", "two", "three"} {
		mustWrite(t, p, []byte(s))
	}
	hist, err := m.Meta.History("doc.txt")
	if err != nil {
		t.Fatal(err)
	}
	var contents []int64
	for _, v := range hist {
		if v.Origin != m.Meta.Device() {
			t.Fatalf("version origin %q, want %q", v.Origin, m.Meta.Device())
		}
		contents = append(contents, v.Size)
	}
	// One version per close with content. The empty version create makes
	// is replaced by the first close's while it is pending (it is unless
	// a batch commit fell between create and close: then it stays).
	first := len(hist) - 3
	if first < 0 || first > 1 || (first == 1 && contents[0] != 0) || !slices.Equal(contents[first:], []int64{3, 3, 5}) {
		t.Fatalf("history sizes %v, want [3 3 5] (or [0 3 3 5])", contents)
	}
	if _, err := m.Meta.Restore("doc.txt", first+1); err != nil {
		t.Fatal(err)
	}
	// The kernel caches attributes for a moment; a fresh open reads the
	// restored content because the content hash changed.
	m.FS.Invalidate([]meta.FileVersion{{Path: "doc.txt"}})
	if got := mustRead(t, p); string(got) != "one" {
		t.Fatalf("after restore: %q", got)
	}
}

func TestXattrs(t *testing.T) {
	m := TestMount(t)
	p := filepath.Join(m.Dir, "f")
	mustWrite(t, p, chunks.RandomBytes(2, 100<<10))
	buf := make([]byte, 64)
	n, err := syscall.Getxattr(p, "user.latus.state", buf)
	if err != nil || string(buf[:n]) != "local" {
		t.Fatalf("state = %q, %v", buf[:n], err)
	}
	if err := syscall.Setxattr(p, "user.latus.pinned", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	n, err = syscall.Getxattr(p, "user.latus.pinned", buf)
	if err != nil || string(buf[:n]) != "1" {
		t.Fatalf("pinned = %q, %v", buf[:n], err)
	}
	if u := m.Store.Usage(); u.Pinned != 1 {
		t.Fatalf("store pinned chunks = %d, want 1", u.Pinned)
	}
}

func TestCacheFullIsENOSPC(t *testing.T) {
	m := TestMount(t, func(o *chunks.Options) { o.Capacity = 16 << 20 })
	keep := chunks.RandomBytes(3, 4<<20)
	mustWrite(t, filepath.Join(m.Dir, "keep"), keep)
	err := os.WriteFile(filepath.Join(m.Dir, "big"), chunks.RandomBytes(4, 40<<20), 0o644)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("writing past the cap: %v, want ENOSPC", err)
	}
	if got := mustRead(t, filepath.Join(m.Dir, "keep")); !bytes.Equal(got, keep) {
		t.Fatal("earlier file damaged after ENOSPC")
	}
}

func TestStatfsReportsCap(t *testing.T) {
	m := TestMount(t, func(o *chunks.Options) { o.Capacity = 64 << 20 })
	var st syscall.Statfs_t
	if err := syscall.Statfs(m.Dir, &st); err != nil {
		t.Fatal(err)
	}
	if got := int64(st.Blocks) * int64(st.Bsize); got != 64<<20 {
		t.Fatalf("statfs size %d, want %d", got, 64<<20)
	}
}
