package fusefs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
	"golang.org/x/sys/unix"
)

// committedAtClose opens p, lets change alter the open descriptor, closes
// it and checks that the store holds want the moment close returns,
// before the kernel's asynchronous release.
func TestCloseCommitsEveryChange(t *testing.T) {
	old := chunks.RandomBytes(5, 3<<20)
	src := chunks.RandomBytes(6, 1<<20)
	tests := []struct {
		name   string
		change func(t *testing.T, fd int, srcFd int)
		want   func() []byte
	}{
		{"ftruncate down", func(t *testing.T, fd, _ int) {
			if err := unix.Ftruncate(fd, 1<<20+5); err != nil {
				t.Fatal(err)
			}
		}, func() []byte { return old[:1<<20+5] }},
		{"ftruncate up", func(t *testing.T, fd, _ int) {
			if err := unix.Ftruncate(fd, 4<<20); err != nil {
				t.Fatal(err)
			}
		}, func() []byte { return append(bytes.Clone(old), make([]byte, 1<<20)...) }},
		{"fallocate extend", func(t *testing.T, fd, _ int) {
			if err := unix.Fallocate(fd, 0, 3<<20, 100); err != nil {
				t.Fatal(err)
			}
		}, func() []byte { return append(bytes.Clone(old), make([]byte, 100)...) }},
		{"fallocate punch hole", func(t *testing.T, fd, _ int) {
			if err := unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 1000, 5000); err != nil {
				t.Fatal(err)
			}
		}, func() []byte { b := bytes.Clone(old); clear(b[1000:6000]); return b }},
		{"copy_file_range", func(t *testing.T, fd, srcFd int) {
			in, out := int64(0), int64(2<<20)
			for done := 0; done < len(src); {
				n, err := unix.CopyFileRange(srcFd, &in, fd, &out, len(src)-done, 0)
				if err != nil || n == 0 {
					t.Fatalf("copy_file_range: %d, %v", n, err)
				}
				done += n
			}
		}, func() []byte { b := bytes.Clone(old); copy(b[2<<20:], src); return b }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := TestMount(t)
			p := filepath.Join(m.Dir, "f")
			mustWrite(t, p, old)
			mustWrite(t, filepath.Join(m.Dir, "src"), src)
			srcF, err := os.Open(filepath.Join(m.Dir, "src"))
			if err != nil {
				t.Fatal(err)
			}
			defer srcF.Close()
			before, _ := m.Meta.History("f")
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			tc.change(t, int(f.Fd()), int(srcF.Fd()))
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			want := tc.want()
			v, err := m.Meta.Lookup("f")
			if err != nil {
				t.Fatal(err)
			}
			if v.Size != int64(len(want)) || v.Hash != chunks.Sum(want) {
				t.Fatalf("committed at close: size %d, want %d (content equal: %v)", v.Size, len(want), v.Hash == chunks.Sum(want))
			}
			if got := mustRead(t, p); !bytes.Equal(got, want) {
				t.Fatalf("reopened: %d bytes, want %d", len(got), len(want))
			}
			if after, _ := m.Meta.History("f"); len(after) != len(before)+1 {
				t.Fatalf("%d versions recorded for one change and close, want 1", len(after)-len(before))
			}
		})
	}
}

// TestShellRedirectRecordsNoEmptyVersion does what a shell's "> file"
// does: open with O_TRUNC, dup, close the first descriptor, write, close.
func TestShellRedirectRecordsNoEmptyVersion(t *testing.T) {
	m := TestMount(t)
	p := filepath.Join(m.Dir, "f")
	mustWrite(t, p, []byte("old"))
	fd, err := syscall.Open(p, syscall.O_WRONLY|syscall.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	dup, err := syscall.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Close(fd); err != nil {
		t.Fatal(err)
	}
	if _, err := syscall.Write(dup, []byte("new!")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Close(dup); err != nil {
		t.Fatal(err)
	}
	hist, err := m.Meta.History("f")
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int64
	for _, v := range hist {
		sizes = append(sizes, v.Size)
	}
	// create (empty, unless "old" folded into it while both were in one
	// commit batch), "old", "new!": no empty version between them.
	if !slices.Equal(sizes, []int64{0, 3, 4}) && !slices.Equal(sizes, []int64{3, 4}) {
		t.Fatalf("history sizes %v, want [0 3 4] or [3 4]", sizes)
	}
}

func TestTruncateByPathCommitsWithAHandleOpen(t *testing.T) {
	m := TestMount(t)
	p := filepath.Join(m.Dir, "f")
	mustWrite(t, p, []byte("0123456789"))
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.Truncate(p, 4); err != nil {
		t.Fatal(err)
	}
	if v, err := m.Meta.Lookup("f"); err != nil || v.Size != 4 {
		t.Fatalf("after truncate by path: size %d, %v; want 4 committed at once", v.Size, err)
	}
	buf := make([]byte, 10)
	if n, _ := f.ReadAt(buf, 0); string(buf[:n]) != "0123" {
		t.Fatalf("the open handle reads %q, want %q", buf[:n], "0123")
	}
}

// remoteOnly commits a version of p whose chunks no store holds and no
// source serves: reading its old bytes fails with EIO.
func remoteOnly(t *testing.T, m *Mounted, p string) []byte {
	t.Helper()
	data := chunks.RandomBytes(7, 2<<20)
	meta.TestWrite(t, m.Meta, p, data, time.Now())
	return data
}

func TestTruncatingNeverFetches(t *testing.T) {
	tests := []struct {
		name  string
		write func(p string) error
	}{
		{"open O_TRUNC", func(p string) error { return os.WriteFile(p, []byte("new"), 0o644) }},
		{"ftruncate 0", func(p string) error {
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			if err := f.Truncate(0); err != nil {
				f.Close()
				return err
			}
			if _, err := f.WriteAt([]byte("new"), 0); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}},
		{"truncate by path to 0, then append", func(p string) error {
			if err := os.Truncate(p, 0); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			f.Write([]byte("new"))
			return f.Close()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := TestMount(t)
			remoteOnly(t, m, "f")
			p := filepath.Join(m.Dir, "f")
			if err := tc.write(p); err != nil {
				t.Fatalf("overwriting a file whose bytes are unavailable: %v", err)
			}
			if got := mustRead(t, p); string(got) != "new" {
				t.Fatalf("read back %q, want %q", got, "new")
			}
		})
	}
}

func TestOldBytesNeededAreEIO(t *testing.T) {
	m := TestMount(t)
	remoteOnly(t, m, "f")
	f, err := os.OpenFile(filepath.Join(m.Dir, "f"), os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("open for write of an unavailable file: %v (open must not fetch)", err)
	}
	defer f.Close()
	buf := make([]byte, 10)
	if _, err := f.ReadAt(buf, 0); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read of unavailable bytes: %v, want EIO", err)
	}
	if _, err := f.WriteAt([]byte("x"), 5); !errors.Is(err, syscall.EIO) {
		t.Fatalf("partial write over unavailable bytes: %v, want EIO", err)
	}
}

// TestStagingReadErrorIsEIO breaks the staging file under an open handle:
// the read fails with EIO instead of reporting an early end of file.
func TestStagingReadErrorIsEIO(t *testing.T) {
	m := TestMount(t)
	p := filepath.Join(m.Dir, "f")
	mustWrite(t, p, []byte("some content"))
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("S"), 0); err != nil {
		t.Fatal(err)
	}
	m.FS.mu.Lock()
	for _, st := range m.FS.staged {
		st.mu.Lock()
		st.f.Close()
		st.mu.Unlock()
	}
	m.FS.mu.Unlock()
	buf := make([]byte, 4)
	if n, err := f.ReadAt(buf, 0); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read from a broken staging file: %d bytes, %v; want EIO", n, err)
	}
}

func TestFailedCommitKeepsContent(t *testing.T) {
	state, mnt := t.TempDir(), t.TempDir()
	small := func(o *chunks.Options) { o.Capacity = 8 << 20 }
	m := MountState(t, state, mnt, small)
	data := chunks.RandomBytes(8, 20<<20)
	err := os.WriteFile(filepath.Join(mnt, "big"), data, 0o644)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write past the cap: %v, want ENOSPC", err)
	}
	m.Unmount() // the last release has run when the unmount returns
	kept, _ := filepath.Glob(filepath.Join(state, "staging", "failed", "*.json"))
	if len(kept) != 1 {
		t.Fatalf("kept content after the failed commit: %v, want one", kept)
	}
	// Still no room: kept again, not dropped.
	m = MountState(t, state, mnt, small)
	if got := m.FS.Rescued(); len(got) != 1 || got[0] != "big" {
		t.Fatalf("after a restart with no room: kept %v, want [big]", got)
	}
	m.Unmount()
	m = MountState(t, state, mnt) // room now: committed at start
	if got := m.FS.Rescued(); len(got) != 0 {
		t.Fatalf("after a restart with room: still kept %v", got)
	}
	if got := mustRead(t, filepath.Join(mnt, "big")); !bytes.Equal(got, data) {
		t.Fatalf("kept content committed: %d bytes, want the %d written", len(got), len(data))
	}
	if left, _ := os.ReadDir(filepath.Join(state, "staging", "failed")); len(left) != 0 {
		t.Fatalf("failed dir after the commit: %d files left", len(left))
	}
}
