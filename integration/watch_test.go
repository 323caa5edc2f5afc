package integration

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestImportWatch follows a folder on A: files created, changed and
// deleted there reach A's mount and B within 5 s; --stop ends it.
func TestImportWatch(t *testing.T) {
	acct := newAccount(t)
	a, b := acct.device(t), acct.device(t)
	src := t.TempDir()
	writeTree(t, src, map[string]string{"old/first.txt": "first", "skip.tmp": "ignored"})
	out := a.mustLatus("import", "--watch", src)
	if !strings.Contains(out, "following") {
		t.Errorf("import --watch said %q", out)
	}
	if got := readFile(t, a.path("old/first.txt")); got != "first" {
		t.Fatalf("first scan: %q", got)
	}
	if st := a.mustLatus("status"); !strings.Contains(st, "following:    "+src+": watching") {
		t.Errorf("status does not show the followed folder:\n%s", st)
	}

	writeTree(t, src, map[string]string{"new/deep/second.txt": "second", "third.tmp": "ignored too"})
	eventually(t, 5*time.Second, "a file created in the followed folder, in A's mount and on B", func() bool {
		ga, errA := os.ReadFile(a.path("new/deep/second.txt"))
		gb, errB := os.ReadFile(b.path("new/deep/second.txt"))
		return errA == nil && errB == nil && string(ga) == "second" && string(gb) == "second"
	})
	if err := os.WriteFile(src+"/old/first.txt", []byte("first, edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "an edit in the followed folder on B", func() bool {
		g, err := os.ReadFile(b.path("old/first.txt"))
		return err == nil && string(g) == "first, edited"
	})
	if err := os.RemoveAll(src + "/new"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "a folder deleted from the followed folder, gone from B", func() bool {
		_, err := os.Lstat(b.path("new"))
		return os.IsNotExist(err)
	})
	for _, p := range []string{"skip.tmp", "third.tmp"} {
		if _, err := os.Lstat(a.path(p)); !os.IsNotExist(err) {
			t.Errorf("ignored %s was imported: %v", p, err)
		}
	}

	// A restarted daemon follows the folder again.
	a.unmount()
	a.mount()
	eventually(t, 5*time.Second, "the followed folder resumed after a restart", func() bool {
		return strings.Contains(a.mustLatus("status"), "following:    "+src+": watching")
	})
	writeTree(t, src, map[string]string{"after-restart.txt": "still followed"})
	eventually(t, 5*time.Second, "a file created after a restart, on B", func() bool {
		g, err := os.ReadFile(b.path("after-restart.txt"))
		return err == nil && string(g) == "still followed"
	})

	if out, err := a.latus("import", "--watch", src); err == nil || !strings.Contains(out, "already followed") {
		t.Errorf("following twice: %v %q", err, out)
	}
	if out, err := a.latus("import", "--watch", a.path("")); err == nil || !strings.Contains(out, "overlap") {
		t.Errorf("following the mount itself: %v %q", err, out)
	}
	a.mustLatus("import", "--stop", src)
	if st := a.mustLatus("status"); strings.Contains(st, "following:") {
		t.Errorf("status after --stop:\n%s", st)
	}
	if out, err := a.latus("import", "--stop", src); err == nil || !strings.Contains(out, "not followed") {
		t.Errorf("stopping twice: %v %q", err, out)
	}
}
