package integration

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOverwriteWhileHolderOffline: B sees A's file but not its bytes; with
// A gone, a shell overwrite on B needs none of them and succeeds.
func TestOverwriteWhileHolderOffline(t *testing.T) {
	acct := newAccount(t)
	acct.config = "replicas = 1\n" // A alone holds the bytes
	a, b := acct.device(t), acct.device(t)
	data := make([]byte, 3<<20)
	rand.Read(data)
	if err := os.WriteFile(a.path("f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "A's file listed on B", func() bool {
		st, err := os.Stat(b.path("f"))
		return err == nil && st.Size() == int64(len(data))
	})
	if s := xattr(b.path("f"), "user.latus.state"); s != "remote" {
		t.Fatalf("state on B: %q, want remote", s)
	}
	a.unmount()
	sh(t, b.mnt, `printf new > f`)
	if got := readFile(t, b.path("f")); got != "new" {
		t.Fatalf("after the overwrite on B: %q, want %q", got, "new")
	}
	// The overwrite is one version: no empty one before it.
	lines := strings.Split(strings.TrimSpace(b.mustLatus("log", "f")), "\n")
	last := strings.Fields(lines[len(lines)-1])
	if len(lines) != 4 || last[len(last)-1] != "3" {
		t.Fatalf("B's history after the overwrite, want created, A's version and B's 3 bytes:\n%s", strings.Join(lines, "\n"))
	}
}

// TestFailedCommitContentSurvives: a close that cannot commit (the cache
// cap is full of bytes no other device holds) fails with ENOSPC, the
// content is kept in the state dir, and the next mount with room commits
// it.
func TestFailedCommitContentSurvives(t *testing.T) {
	d := newDevice(t)
	d.mount("--cache-size", "16MiB")
	data := make([]byte, 40<<20)
	rand.Read(data)
	err := os.WriteFile(d.path("big.bin"), data, 0o644)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("writing 40 MiB with a 16 MiB cap: %v, want ENOSPC", err)
	}
	// fusermount -u, not latus unmount: its flush would fail on the file
	// if the kernel had not released it yet. The daemon exits after the
	// last release.
	d.stop()
	kept, _ := filepath.Glob(filepath.Join(d.state, "staging", "failed", "*.json"))
	if len(kept) != 1 {
		t.Fatalf("kept content after the failed commit: %v, want one file", kept)
	}
	if log := readFile(t, filepath.Join(d.state, "latus.log")); !strings.Contains(log, "content kept") || !strings.Contains(log, strings.TrimSuffix(kept[0], ".json")) {
		t.Fatalf("the daemon log does not name the kept content %s:\n%s", kept[0], log)
	}
	// Still no room: kept, shown by status, and unmount is not blocked.
	d.mount("--cache-size", "16MiB")
	if st := d.mustLatus("status"); !strings.Contains(st, "kept:         big.bin") {
		t.Fatalf("status does not show the kept content:\n%s", st)
	}
	d.unmount()
	d.mount("--cache-size", "256MiB")
	got, err := os.ReadFile(d.path("big.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after a mount with room: %d bytes, %v; want the %d written", len(got), err, len(data))
	}
	if left, _ := os.ReadDir(filepath.Join(d.state, "staging", "failed")); len(left) != 0 {
		t.Fatalf("%d kept files left after the commit", len(left))
	}
}
