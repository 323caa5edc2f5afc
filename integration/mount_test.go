package integration

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestUserOperations(t *testing.T) {
	d := newDevice(t)
	d.mount()
	sh(t, d.mnt, `
		printf 'hello\n' > a.txt
		printf 'world\n' >> a.txt
		head -c 3000000 /dev/urandom > big.bin
		cp big.bin /tmp/latus-big-$$.bin
		printf 'XXXX' | dd of=big.bin bs=1 seek=1500000 conv=notrunc status=none
		printf 'XXXX' | dd of=/tmp/latus-big-$$.bin bs=1 seek=1500000 conv=notrunc status=none
		cmp big.bin /tmp/latus-big-$$.bin
		rm /tmp/latus-big-$$.bin
		printf '0123456789' > t.txt
		truncate -s 4 t.txt
		mkdir -p deep/er/still
		printf 'moved' > deep/m.txt
		mv deep/m.txt deep/er/still/m.txt
		mkdir -p gone/sub && touch gone/sub/x && rm -r gone
		ln -s a.txt link
		chmod 600 a.txt
		printf 'new' > src && printf 'old' > dst && mv src dst
	`)
	checks := map[string]string{
		"a.txt":               "hello\nworld\n",
		"t.txt":               "0123",
		"deep/er/still/m.txt": "moved",
		"link":                "hello\nworld\n",
		"dst":                 "new",
	}
	for p, want := range checks {
		if got := readFile(t, d.path(p)); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	for _, p := range []string{"gone", "src", "deep/m.txt"} {
		if _, err := os.Lstat(d.path(p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists: %v", p, err)
		}
	}
	if st, err := os.Stat(d.path("a.txt")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("a.txt mode %v, %v; want 0600", st.Mode(), err)
	}
	if err := os.Link(d.path("a.txt"), d.path("hard")); err == nil {
		t.Error("hard link succeeded; Latus refuses them")
	}
}

func TestGitInMount(t *testing.T) {
	requireTool(t, "git")
	d := newDevice(t)
	d.mount()
	out := sh(t, d.mnt, `
		git init -q repo && cd repo
		git config user.email t@example.com && git config user.name t
		for i in 1 2 3; do echo "line $i" > f$i.txt; done
		git add . && git commit -qm first
		echo more >> f1.txt && git commit -qam second
		git log --oneline | wc -l
		git status --porcelain | wc -l
		git fsck --no-progress 2>&1 | grep -v '^Checking' || true
	`)
	f := strings.Fields(out)
	if len(f) < 2 || f[0] != "2" || f[1] != "0" {
		t.Fatalf("git in the mount: commits/dirty = %q, want 2 commits, clean tree", out)
	}
}

func TestTarExtractMatchesOriginal(t *testing.T) {
	d := newDevice(t)
	d.mount()
	src := t.TempDir()
	sh(t, src, `
		for d in $(seq 1 20); do
			mkdir -p tree/dir$d/sub
			for f in $(seq 1 15); do
				head -c $((RANDOM * 3 % 70000)) /dev/urandom > tree/dir$d/file$f.c
				echo "int f$f(void) { return $f; }" > tree/dir$d/sub/s$f.h
			done
		done
		ln -s dir1/file1.c tree/link
		tar cf ../tree.tar tree
	`)
	sh(t, d.mnt, `tar xf `+filepath.Join(filepath.Dir(src), "tree.tar")+` && diff -r tree `+filepath.Join(src, "tree"))
}

func TestSqliteInMount(t *testing.T) {
	requireTool(t, "sqlite3")
	d := newDevice(t)
	d.mount()
	out := sh(t, d.mnt, `
		{
			echo 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);'
			echo 'BEGIN;'
			for i in $(seq 1 1000); do echo "INSERT INTO t (v) VALUES ('row $i');"; done
			echo 'COMMIT;'
		} | sqlite3 db.sqlite
		for i in 1 2 3; do sqlite3 db.sqlite "INSERT INTO t (v) VALUES ('auto $i');"; done
		sqlite3 db.sqlite 'PRAGMA integrity_check; SELECT count(*) FROM t;'
	`)
	if got := strings.Fields(out); len(got) != 2 || got[0] != "ok" || got[1] != "1003" {
		t.Fatalf("sqlite in the mount: %q, want ok and 1003 rows", out)
	}
}

func TestRemountKeepsFilesAndHistory(t *testing.T) {
	d := newDevice(t)
	d.mount()
	for _, s := range []string{"first", "second", "third"} {
		if err := os.WriteFile(d.path("doc.txt"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d.unmount()
	// With no daemon, log reads the store directly.
	log := d.mustLatus("log", "doc.txt")
	// header + 3 writes, and the empty version create made unless the
	// first write folded into it while both were in one commit batch.
	n := strings.Count(log, "\n")
	if n != 4 && n != 5 {
		t.Fatalf("log after unmount has %d lines:\n%s", n, log)
	}
	d.mount()
	if got := readFile(t, d.path("doc.txt")); got != "third" {
		t.Fatalf("after remount: %q", got)
	}
	first := strconv.Itoa(n - 3) // the first of the last three versions
	d.mustLatus("restore", d.path("doc.txt"), "--version", first)
	if got := readFile(t, d.path("doc.txt")); got != "first" {
		t.Fatalf("after restore of version %s: %q, want %q", first, got, "first")
	}
	if log := d.mustLatus("log", d.path("doc.txt")); strings.Count(log, "\n") != n+1 {
		t.Fatalf("restore did not add a version:\n%s", log)
	}
}

func TestKilledDaemonLosesNothingClosed(t *testing.T) {
	d := newDevice(t)
	d.mount()
	// Write files until killed; the writer records each file after its
	// close returned.
	done := filepath.Join(t.TempDir(), "done")
	writer := exec.Command("bash", "-c", `i=0; while true; do head -c 200000 /dev/urandom > f$i.bin 2>/dev/null || exit 0; sha256sum f$i.bin >> `+done+` 2>/dev/null || exit 0; i=$((i+1)); done`)
	writer.Dir = d.mnt
	if err := writer.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(done)
		if bytes.Count(b, []byte("\n")) >= 10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := syscall.Kill(d.daemonPID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	writer.Wait()
	recorded := readFile(t, done)
	d.mount() // cleans the stale mount
	lines := strings.Split(strings.TrimSpace(recorded), "\n")
	if len(lines) < 5 {
		t.Fatalf("only %d files written before the kill", len(lines))
	}
	// Every line but the last is complete: the last may have been cut by the kill.
	for _, line := range lines[:len(lines)-1] {
		cmd := exec.Command("sha256sum", "-c", "--quiet", "-")
		cmd.Dir = d.mnt
		cmd.Stdin = strings.NewReader(line + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("after kill -9 and remount: %s: %v %s", line, err, out)
		}
	}
}

func TestCacheCapGivesENOSPC(t *testing.T) {
	d := newDevice(t)
	d.mount("--cache-size", "64MiB")
	keep := make([]byte, 8<<20)
	rand.Read(keep)
	if err := os.WriteFile(d.path("keep.bin"), keep, 0o644); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 200<<20)
	rand.Read(big)
	err := os.WriteFile(d.path("big.bin"), big, 0o644)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("writing 200 MiB with a 64 MiB cap: %v, want ENOSPC", err)
	}
	if got := readFile(t, d.path("keep.bin")); got != string(keep) {
		t.Fatal("a file written before the cap was hit is damaged")
	}
}

func TestMountErrors(t *testing.T) {
	d := newDevice(t)
	d.mount()
	other := filepath.Join(t.TempDir(), "other")
	out, err := d.latus("mount", other)
	if err == nil || !strings.Contains(out, "in use by a running daemon") || !strings.Contains(out, "fusermount -u") {
		t.Fatalf("second mount on one state dir: err %v, output %q", err, out)
	}
	e := newDevice(t)
	os.MkdirAll(e.mnt, 0o755)
	os.WriteFile(filepath.Join(e.mnt, "x"), []byte("x"), 0o644)
	out, err = e.latus("mount", e.mnt)
	if err == nil || !strings.Contains(out, "not empty") {
		t.Fatalf("non-empty mount point: err %v, output %q", err, out)
	}
	if out, err := e.latus("status"); err == nil || !strings.Contains(out, "no daemon running") {
		t.Fatalf("status with no daemon: err %v, output %q", err, out)
	}
	if out := d.mustLatus("status"); !strings.Contains(out, d.mnt) || !strings.Contains(out, "local only") {
		t.Fatalf("status: %q", out)
	}
	// A state dir that cannot be made (root ignores permissions, so put it
	// under a regular file), and a bad size: clear errors, nothing mounted.
	f := newDevice(t)
	blocker := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocker, nil, 0o644)
	f.state = filepath.Join(blocker, "state")
	if out, err := f.latus("mount", f.mnt); err == nil || !strings.Contains(out, "state dir") || !strings.Contains(out, "--state") {
		t.Fatalf("unusable state dir: err %v, output %q", err, out)
	}
	out, err = e.latus("mount", "--cache-size", "lots", filepath.Join(t.TempDir(), "m"))
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(out, "invalid size") {
		t.Fatalf("bad --cache-size: err %v, output %q; want exit code 2", err, out)
	}
	if isMounted(f.mnt) || isMounted(e.mnt) {
		t.Fatal("a refused mount left a mount behind")
	}
}

// TestDaemonLogsToRotatedFile finds the daemon's log lines in
// <state>/latus.log, written through the rotating logger.
func TestDaemonLogsToRotatedFile(t *testing.T) {
	d := newDevice(t)
	d.mount()
	b, err := os.ReadFile(filepath.Join(d.state, "latus.log"))
	if err != nil || !strings.Contains(string(b), "msg=mounted") {
		t.Fatalf("latus.log after mount: %v\n%s", err, b)
	}
	if _, err := os.Stat(filepath.Join(d.state, "latus.stderr")); err != nil {
		t.Errorf("latus.stderr: %v", err)
	}
}
