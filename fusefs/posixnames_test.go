package fusefs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestNameLimits(t *testing.T) {
	m := TestMount(t)
	long := strings.Repeat("n", 256)
	for _, tc := range []struct {
		name string
		op   func() error
	}{
		{"create", func() error { return os.WriteFile(filepath.Join(m.Dir, long), nil, 0o644) }},
		{"mkdir", func() error { return os.Mkdir(filepath.Join(m.Dir, long), 0o755) }},
		{"stat", func() error { _, err := os.Stat(filepath.Join(m.Dir, long)); return err }},
		{"symlink", func() error { return os.Symlink("x", filepath.Join(m.Dir, long)) }},
		{"rename to", func() error {
			mustWrite(t, filepath.Join(m.Dir, "short"), nil)
			return os.Rename(filepath.Join(m.Dir, "short"), filepath.Join(m.Dir, long))
		}},
	} {
		if err := tc.op(); !errors.Is(err, syscall.ENAMETOOLONG) {
			t.Errorf("%s with a 256-byte name: %v, want ENAMETOOLONG", tc.name, err)
		}
	}
	ok := filepath.Join(m.Dir, strings.Repeat("n", 255))
	mustWrite(t, ok, []byte("x"))
	if got := mustRead(t, ok); string(got) != "x" {
		t.Fatalf("a 255-byte name reads %q", got)
	}
	// A path of PATH_MAX (4096 bytes with its NUL) works: directories of
	// 200-byte names until the absolute path is 4095 bytes long.
	p := m.Dir
	for len(p)+1+201 < 4095-1-10 {
		p = filepath.Join(p, strings.Repeat("d", 200))
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	last := filepath.Join(p, strings.Repeat("f", 4095-len(p)-1))
	if len(last) != 4095 {
		t.Fatalf("test bug: path of %d bytes", len(last))
	}
	mustWrite(t, last, []byte("deep"))
	if got := mustRead(t, last); string(got) != "deep" {
		t.Fatalf("a %d-byte path reads %q", len(last), got)
	}
}

// TestRefusedByDesign checks the errno of each thing Latus does not keep
// (README lists them).
func TestRefusedByDesign(t *testing.T) {
	m := TestMount(t)
	f := filepath.Join(m.Dir, "f")
	mustWrite(t, f, []byte("x"))
	tests := []struct {
		name string
		op   func() error
		want syscall.Errno
	}{
		{"FIFO", func() error { return unix.Mkfifo(filepath.Join(m.Dir, "fifo"), 0o644) }, syscall.EOPNOTSUPP},
		{"device node", func() error {
			return unix.Mknod(filepath.Join(m.Dir, "dev"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3)))
		}, syscall.EOPNOTSUPP},
		{"socket node", func() error { return unix.Mknod(filepath.Join(m.Dir, "sock"), unix.S_IFSOCK|0o644, 0) }, syscall.EOPNOTSUPP},
		{"hard link", func() error { return os.Link(f, filepath.Join(m.Dir, "hard")) }, syscall.EOPNOTSUPP},
		{"rename exchange", func() error {
			mustWrite(t, filepath.Join(m.Dir, "g"), []byte("y"))
			return unix.Renameat2(unix.AT_FDCWD, f, unix.AT_FDCWD, filepath.Join(m.Dir, "g"), unix.RENAME_EXCHANGE)
		}, syscall.EOPNOTSUPP},
		{"other xattr", func() error { return unix.Setxattr(f, "user.other", []byte("v"), 0) }, syscall.EOPNOTSUPP},
		{".latus at the root", func() error { return os.Mkdir(filepath.Join(m.Dir, ".latus"), 0o755) }, syscall.EINVAL},
	}
	for _, tc := range tests {
		if err := tc.op(); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// chown to another owner is accepted and ignored: every file belongs
	// to the mounting user (tar and cp -a as root keep working).
	if err := os.Chown(f, 12345, 12345); err != nil {
		t.Fatalf("chown: %v", err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(f, &st); err != nil || st.Uid != uint32(os.Getuid()) {
		t.Fatalf("after chown: uid %d, %v; want the mounting user's %d", st.Uid, err, os.Getuid())
	}
}
