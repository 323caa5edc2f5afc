package integration

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestTrashRestoresFolder deletes a folder with rm -r inside the mount,
// finds it in `latus log --deleted`, and brings it back whole through the
// daemon; then deletes a file, unmounts, and brings it back offline.
func TestTrashRestoresFolder(t *testing.T) {
	d := newDevice(t)
	d.mount()
	files := map[string]string{"docs/a.txt": "alpha", "docs/sub/b.txt": strings.Repeat("b", 300000), "docs/sub/deep/c.txt": "gamma", "other.txt": "stays"}
	writeTree(t, d.mnt, files)
	sh(t, d.mnt, "rm -r docs")
	if _, err := os.Stat(d.path("docs")); !os.IsNotExist(err) {
		t.Fatalf("docs after rm -r: %v", err)
	}
	out := d.mustLatus("log", "--deleted")
	for _, p := range []string{"docs/", "docs/a.txt", "docs/sub/b.txt", "docs/sub/deep/c.txt"} {
		if !strings.Contains(out, " "+p+"\n") {
			t.Errorf("log --deleted does not list %s:\n%s", p, out)
		}
	}
	if strings.Contains(out, "other.txt") {
		t.Errorf("log --deleted lists a live file:\n%s", out)
	}
	if !strings.Contains(out, "300000") {
		t.Errorf("log --deleted does not show b.txt's size:\n%s", out)
	}
	sub := d.mustLatus("log", "--deleted", d.path("docs/sub"))
	if strings.Contains(sub, "a.txt") || !strings.Contains(sub, "b.txt") {
		t.Errorf("log --deleted docs/sub:\n%s", sub)
	}

	out = d.mustLatus("restore", d.path("docs"))
	if !strings.Contains(out, "3 files") {
		t.Errorf("restore docs said %q", out)
	}
	for p, want := range files {
		if got := readFile(t, d.path(p)); got != want {
			t.Errorf("%s after restore: %d bytes, want %d", p, len(got), len(want))
		}
	}
	if out := d.mustLatus("log", "--deleted"); !strings.Contains(out, "(nothing deleted)") {
		t.Errorf("trash after restore:\n%s", out)
	}
	if out, err := d.latus("restore", d.path("docs")); err == nil || !strings.Contains(out, "not deleted") {
		t.Errorf("restoring a live folder without --at: %v %q", err, out)
	}

	sh(t, d.mnt, "rm docs/a.txt")
	d.unmount()
	d.mustLatus("restore", "docs/a.txt")
	d.mount()
	if got := readFile(t, d.path("docs/a.txt")); got != "alpha" {
		t.Errorf("docs/a.txt restored offline: %q", got)
	}
}

// TestTrashRestoreReachesOtherDevice deletes a folder on A and brings it
// back on B: the restore is a local commit on B that A hears of.
func TestTrashRestoreReachesOtherDevice(t *testing.T) {
	acct := newAccount(t)
	a, b := acct.device(t), acct.device(t)
	writeTree(t, a.mnt, map[string]string{"album/one.txt": "one", "album/two/three.txt": "three"})
	eventually(t, 5*time.Second, "album on B", func() bool {
		g, err := os.ReadFile(b.path("album/two/three.txt"))
		return err == nil && string(g) == "three"
	})
	sh(t, a.mnt, "rm -r album")
	eventually(t, 5*time.Second, "album deleted on B", func() bool {
		_, err := os.Lstat(b.path("album"))
		return os.IsNotExist(err)
	})
	if out := b.mustLatus("log", "--deleted"); !strings.Contains(out, " album/\n") {
		t.Fatalf("B's trash:\n%s", out)
	}
	b.mustLatus("restore", b.path("album"))
	eventually(t, 5*time.Second, "album restored on B back on A", func() bool {
		g1, err1 := os.ReadFile(a.path("album/one.txt"))
		g2, err2 := os.ReadFile(a.path("album/two/three.txt"))
		return err1 == nil && err2 == nil && string(g1) == "one" && string(g2) == "three"
	})
}
