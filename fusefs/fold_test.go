package fusefs

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/uberan/latus/meta"
)

// One save is one version: a file created and written through one handle,
// and tar's chmod and utimens after it wrote a file, make one version
// while the batch holding it is pending. The batch is held open for the
// whole test, so the result does not depend on timing; with the default
// delay (25 ms) it holds whenever the steps follow each other within it.
func TestOneSaveOneVersion(t *testing.T) {
	db, err := meta.Open(filepath.Join(t.TempDir(), "meta.db"), meta.Options{Device: "testdev", Logger: meta.TestLogger(t), CommitDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	m := testMountDB(t, db, nil)

	src := t.TempDir()
	mtime := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := os.WriteFile(filepath.Join(src, "t.txt"), []byte("from tar\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "t.txt"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(src, "t.txt"), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(t.TempDir(), "t.tar")
	if out, err := exec.Command("tar", "-C", src, "-cf", tarball, "t.txt").CombinedOutput(); err != nil {
		t.Fatalf("tar c: %v: %s", err, out)
	}

	tests := []struct {
		name, cmd, path, content string
		mode                     uint32
		mtime                    time.Time
	}{
		{name: "echo x > f", cmd: "echo x > f", path: "f", content: "x\n", mode: 0o644},
		{name: "tar x of a file with mode and mtime", cmd: "tar -xpf " + tarball, path: "t.txt", content: "from tar\n", mode: 0o640, mtime: mtime},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// cd in the shell, not cmd.Dir: the child of a vfork would
			// chdir into a mount this process serves, and a garbage
			// collection then waiting for the suspended forking thread
			// stops the server that must answer (a deadlock).
			cmd := exec.Command("sh", "-c", `cd "$1" && umask 022 && `+tc.cmd, "sh", m.Dir)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v: %s", tc.cmd, err, out)
			}
			if got := string(mustRead(t, filepath.Join(m.Dir, tc.path))); got != tc.content {
				t.Fatalf("%s reads %q, want %q", tc.path, got, tc.content)
			}
			h, err := m.Meta.History(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if len(h) != 1 {
				for _, v := range h {
					t.Logf("%s %d bytes mode %o mtime %v", v.Change, v.Size, v.Mode, v.MTime)
				}
				t.Fatalf("History(%s) has %d versions, want 1", tc.path, len(h))
			}
			v := h[0]
			if v.Change != meta.Created || v.Size != int64(len(tc.content)) || v.Mode != tc.mode {
				t.Fatalf("the version is %s, %d bytes, mode %o; want created, %d bytes, mode %o", v.Change, v.Size, v.Mode, len(tc.content), tc.mode)
			}
			if !tc.mtime.IsZero() && !v.MTime.Equal(tc.mtime) {
				t.Fatalf("mtime %v, want %v", v.MTime, tc.mtime)
			}
		})
	}
}
