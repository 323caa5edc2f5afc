package fusefs

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/uberan/latus/meta"
)

// ignoreMount mounts a filesystem that ignores names ending in .tmp or
// the folder "build", keeping them in a local dir it returns.
func ignoreMount(t *testing.T) (m *Mounted, local string) {
	t.Helper()
	local = filepath.Join(t.TempDir(), "local")
	m = testMountWith(t, func(o *Options) {
		o.LocalDir = local
		o.Ignored = func(p string, isDir bool) bool {
			return strings.HasSuffix(p, ".tmp") || p == "build" || strings.HasPrefix(p, "build/")
		}
	})
	return m, local
}

func TestIgnoredFilesStayLocal(t *testing.T) {
	tests := []struct {
		name      string
		run       func(t *testing.T, dir string)
		inStores  map[string]string // path → content expected in meta
		notStored []string
		inLocal   []string
		notLocal  []string
	}{
		{name: "ignored file",
			run:       func(t *testing.T, dir string) { mustWrite(t, filepath.Join(dir, "a.tmp"), []byte("scratch")) },
			notStored: []string{"a.tmp"}, inLocal: []string{"a.tmp"}},
		{name: "ignored folder",
			run: func(t *testing.T, dir string) {
				if err := os.MkdirAll(filepath.Join(dir, "build/sub"), 0o755); err != nil {
					t.Fatal(err)
				}
				mustWrite(t, filepath.Join(dir, "build/sub/out.o"), []byte("obj"))
			},
			notStored: []string{"build", "build/sub/out.o"}, inLocal: []string{"build/sub/out.o"}},
		{name: "save through a temp file",
			run: func(t *testing.T, dir string) {
				mustWrite(t, filepath.Join(dir, "doc.txt"), []byte("v1"))
				mustWrite(t, filepath.Join(dir, "doc.txt.tmp"), []byte("v2"))
				if err := os.Rename(filepath.Join(dir, "doc.txt.tmp"), filepath.Join(dir, "doc.txt")); err != nil {
					t.Fatal(err)
				}
			},
			inStores: map[string]string{"doc.txt": "v2"}, notStored: []string{"doc.txt.tmp"}, notLocal: []string{"doc.txt.tmp", "doc.txt"}},
		{name: "synced file renamed to an ignored name is copied by mv",
			run: func(t *testing.T, dir string) {
				mustWrite(t, filepath.Join(dir, "n.txt"), []byte("moving out"))
				err := os.Rename(filepath.Join(dir, "n.txt"), filepath.Join(dir, "n.tmp"))
				if !errors.Is(err, syscall.EXDEV) {
					t.Fatalf("rename(2) to an ignored name: %v, want EXDEV", err)
				}
				// Absolute paths, not cmd.Dir: see TestOneSaveOneVersion.
				cmd := exec.Command("mv", filepath.Join(dir, "n.txt"), filepath.Join(dir, "n.tmp"))
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("mv: %v\n%s", err, out)
				}
			},
			notStored: []string{"n.txt", "n.tmp"}, inLocal: []string{"n.tmp"}},
		{name: "saved through a temp file, then edited again",
			run: func(t *testing.T, dir string) {
				mustWrite(t, filepath.Join(dir, "e.tmp"), []byte("v1"))
				if err := os.Rename(filepath.Join(dir, "e.tmp"), filepath.Join(dir, "e.txt")); err != nil {
					t.Fatal(err)
				}
				f, err := os.OpenFile(filepath.Join(dir, "e.txt"), os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteString(" and v2")
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
			},
			inStores: map[string]string{"e.txt": "v1 and v2"}, notLocal: []string{"e.tmp", "e.txt"}},
		{name: "ignored file deleted",
			run: func(t *testing.T, dir string) {
				mustWrite(t, filepath.Join(dir, "gone.tmp"), []byte("x"))
				if err := os.Remove(filepath.Join(dir, "gone.tmp")); err != nil {
					t.Fatal(err)
				}
			},
			notStored: []string{"gone.tmp"}, notLocal: []string{"gone.tmp"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, local := ignoreMount(t)
			tc.run(t, m.Dir)
			for p, want := range tc.inStores {
				if got := string(mustRead(t, filepath.Join(m.Dir, p))); got != want {
					t.Errorf("%s reads %q, want %q", p, got, want)
				}
				if _, err := m.Meta.Lookup(p); err != nil {
					t.Errorf("%s not in the stores: %v", p, err)
				}
			}
			for _, p := range tc.notStored {
				if _, err := m.Meta.Lookup(p); !errors.Is(err, meta.ErrNotFound) {
					t.Errorf("%s is in the stores: %v", p, err)
				}
			}
			for _, p := range tc.inLocal {
				if _, err := os.Lstat(filepath.Join(local, p)); err != nil {
					t.Errorf("%s not in the local dir: %v", p, err)
				}
				full := filepath.Join(m.Dir, p)
				if _, err := os.Stat(full); err != nil {
					t.Errorf("%s not in the mount: %v", p, err)
				}
				buf := make([]byte, 16)
				n, err := syscall.Getxattr(full, xattrState, buf)
				if err != nil || string(buf[:max(n, 0)]) != "ignored" {
					t.Errorf("%s: %s = %q, %v; want ignored", p, xattrState, buf[:max(n, 0)], err)
				}
			}
			for _, p := range tc.notLocal {
				if _, err := os.Lstat(filepath.Join(local, p)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s left in the local dir: %v", p, err)
				}
			}
			ents, err := os.ReadDir(m.Dir)
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]bool{}
			for _, e := range ents {
				if names[e.Name()] {
					t.Errorf("%s listed twice", e.Name())
				}
				names[e.Name()] = true
			}
			for _, p := range tc.inLocal {
				if top := strings.Split(p, "/")[0]; !names[top] {
					t.Errorf("listing lacks %s: %v", top, names)
				}
			}
		})
	}
}
