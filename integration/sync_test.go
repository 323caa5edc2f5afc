package integration

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uberan/latus/internal/prosodytest"
)

// account is one throwaway XMPP account on a private Prosody.
type account struct {
	srv  *prosodytest.Server
	jid  string
	pass string
	// config holds top-level config.toml lines for devices made after it
	// is set (e.g. "replicas = 1").
	config string
}

func newAccount(t testing.TB) *account {
	t.Helper()
	srv := prosodytest.Start(t)
	a := &account{srv: srv, pass: "secret-pass"}
	a.jid = srv.Register(t, "alice", a.pass)
	return a
}

// device is a device configured with the account, mounted.
func (a *account) device(t testing.TB, mountArgs ...string) *device {
	t.Helper()
	d := newDevice(t)
	// Tests listen on loopback only (the default is every interface).
	cfg := fmt.Sprintf("%s[xmpp]\njid = %q\nserver = %q\npassword = %q\ninsecure_tls = true\ndata_addr = \"127.0.0.1:0\"\n", a.config, a.jid, a.srv.Addr, a.pass)
	if err := os.WriteFile(d.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d.mount(mountArgs...)
	return d
}

// eventually polls cond until it holds or the deadline passes and returns
// how long that took (benchmarks time propagation with it: a 5 ms poll).
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	took, ok := waitFor(within, cond)
	if !ok {
		t.Fatalf("%s: not within %s", what, within)
	}
	return took
}

// waitFor polls cond until it holds (true and how long that took) or
// within has passed (false).
func waitFor(within time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			return time.Since(start), false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start), true
}

func xattr(p, name string) string {
	buf := make([]byte, 64)
	n, err := syscall.Getxattr(p, name, buf)
	if err != nil {
		return "error: " + err.Error()
	}
	return string(buf[:n])
}

func TestTwoDevicesSync(t *testing.T) {
	acct := newAccount(t)
	acct.config = "replicas = 1\n" // B fetches on first read, not by replication
	a, b := acct.device(t), acct.device(t)

	data := make([]byte, 5<<20)
	rand.Read(data)
	if err := os.WriteFile(a.path("photo.raw"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, 5*time.Second, "file from A listed on B", func() bool {
		st, err := os.Stat(b.path("photo.raw"))
		return err == nil && st.Size() == int64(len(data))
	})
	t.Logf("A's new file visible on B after %s", took)
	if s := xattr(b.path("photo.raw"), "user.latus.state"); s != "remote" {
		t.Errorf("state on B before reading: %q, want remote", s)
	}
	got, err := os.ReadFile(b.path("photo.raw"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read on B: %d bytes, err %v; want A's %d bytes", len(got), err, len(data))
	}
	if s := xattr(b.path("photo.raw"), "user.latus.state"); s != "local" {
		t.Errorf("state on B after reading: %q, want local", s)
	}
	if st := b.mustLatus("status"); !strings.Contains(st, "5.0 MiB downloaded") || !strings.Contains(st, "online") {
		t.Errorf("B's status after fetching 5 MiB from online A:\n%s", st)
	}

	// An edit on B shows on A, with no stale page in A's cache.
	if got := readFile(t, a.path("photo.raw")); len(got) != len(data) {
		t.Fatal("A cannot read its own file")
	}
	if err := os.WriteFile(b.path("photo.raw"), []byte("edited on B"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "B's edit visible on A", func() bool {
		got, err := os.ReadFile(a.path("photo.raw"))
		return err == nil && string(got) == "edited on B"
	})

	// Renames and deletes propagate.
	if err := os.Rename(a.path("photo.raw"), a.path("renamed.raw")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "rename on A seen on B", func() bool {
		_, errOld := os.Stat(b.path("photo.raw"))
		got, err := os.ReadFile(b.path("renamed.raw"))
		return errors.Is(errOld, os.ErrNotExist) && err == nil && string(got) == "edited on B"
	})
	if err := os.Remove(b.path("renamed.raw")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "delete on B seen on A", func() bool {
		_, err := os.Stat(a.path("renamed.raw"))
		return errors.Is(err, os.ErrNotExist)
	})
}

func listNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestRemoteChangesShowOnWarmMount: B has every entry, attribute and page
// cached (the kernel keeps them for minutes) when A modifies, chmods,
// adds to a folder, renames and deletes; each shows on B within seconds,
// as only B's invalidation of its kernel caches can make it.
func TestRemoteChangesShowOnWarmMount(t *testing.T) {
	acct := newAccount(t)
	a, b := acct.device(t), acct.device(t)
	sh(t, a.mnt, "mkdir d && echo alpha > d/a && echo top > top")
	const within = 20 * time.Second
	eventually(t, within, "B sees A's files", func() bool {
		_, err1 := os.Stat(b.path("d/a"))
		_, err2 := os.Stat(b.path("top"))
		return err1 == nil && err2 == nil
	})
	warm := func() {
		sh(t, b.mnt, "ls -lR > /dev/null && cat d/* > /dev/null 2>&1 || true; stat top d/* > /dev/null 2>&1 || true")
	}
	steps := []struct {
		name, script string
		shows        func() bool
	}{
		{"modify", "echo 'alpha, longer now' > d/a", func() bool {
			fi, err := os.Stat(b.path("d/a"))
			return err == nil && fi.Size() == int64(len("alpha, longer now\n")) && readFile(t, b.path("d/a")) == "alpha, longer now\n"
		}},
		{"chmod", "chmod 600 top", func() bool {
			fi, err := os.Stat(b.path("top"))
			return err == nil && fi.Mode().Perm() == 0o600
		}},
		{"new child", "echo bee > d/b", func() bool {
			names := listNames(t, b.path("d"))
			_, err := os.Stat(b.path("d/b"))
			return err == nil && strings.Join(names, ",") == "a,b"
		}},
		{"rename", "mv d/a d/a2", func() bool {
			_, errOld := os.Stat(b.path("d/a"))
			fi, err := os.Stat(b.path("d/a2"))
			return errors.Is(errOld, os.ErrNotExist) && err == nil && fi.Size() == int64(len("alpha, longer now\n"))
		}},
		{"delete", "rm top", func() bool {
			_, err := os.Stat(b.path("top"))
			return errors.Is(err, os.ErrNotExist)
		}},
	}
	for _, st := range steps {
		warm()
		sh(t, a.mnt, st.script)
		eventually(t, within, st.name+" on A shows on B", st.shows)
	}
}

func TestConflictingEditsWhileDisconnected(t *testing.T) {
	acct := newAccount(t)
	a, b := acct.device(t), acct.device(t)
	for _, name := range []string{"doc.txt", "same.txt"} {
		if err := os.WriteFile(a.path(name), []byte("base"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "base versions on B", func() bool {
		x, err1 := os.ReadFile(b.path("doc.txt"))
		y, err2 := os.ReadFile(b.path("same.txt"))
		return err1 == nil && err2 == nil && string(x) == "base" && string(y) == "base"
	})

	acct.srv.Kill() // the devices lose each other
	writes := []struct {
		d          *device
		name, text string
	}{
		{a, "doc.txt", "edit from A"}, {b, "doc.txt", "edit from B"},
		{a, "same.txt", "identical"}, {b, "same.txt", "identical"},
	}
	for _, w := range writes {
		if err := os.WriteFile(w.d.path(w.name), []byte(w.text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	acct.srv.Restart(t)

	// Both devices converge on one winner and one conflict copy of the
	// other edit; identical edits make no copy.
	var names []string
	eventually(t, 30*time.Second, "devices converge after reconnect", func() bool {
		na, nb := fmt.Sprint(listNames(t, a.mnt)), fmt.Sprint(listNames(t, b.mnt))
		names = listNames(t, a.mnt)
		if na != nb || len(names) != 3 {
			return false
		}
		for _, n := range names {
			x, err1 := os.ReadFile(a.path(n))
			y, err2 := os.ReadFile(b.path(n))
			if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
				return false
			}
		}
		return true
	})
	contents := map[string]bool{}
	for _, n := range names {
		contents[readFile(t, a.path(n))] = true
	}
	if !contents["edit from A"] || !contents["edit from B"] || !contents["identical"] {
		t.Fatalf("after the merge the files are %v with contents %v: an edit was lost", names, contents)
	}
	t.Logf("converged on %v", names)
}

func TestUnavailableDataIsEIOThenHeals(t *testing.T) {
	acct := newAccount(t)
	acct.config = "replicas = 1\n" // the writer alone keeps its files
	a, b := acct.device(t), acct.device(t)
	data := make([]byte, 2<<20)
	rand.Read(data)
	if err := os.WriteFile(a.path("only-on-a.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "listed on B", func() bool {
		_, err := os.Stat(b.path("only-on-a.bin"))
		return err == nil
	})
	a.unmount() // the only device holding the bytes goes away
	start := time.Now()
	_, err := os.ReadFile(b.path("only-on-a.bin"))
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("reading with no device holding the data: %v, want EIO", err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("EIO took %s; want it promptly", took)
	}
	a.mount()
	eventually(t, 15*time.Second, "read on B once A is back", func() bool {
		got, err := os.ReadFile(b.path("only-on-a.bin"))
		return err == nil && bytes.Equal(got, data)
	})
}

func TestGitCloneAcrossDevices(t *testing.T) {
	requireTool(t, "git")
	acct := newAccount(t)
	a, b := acct.device(t), acct.device(t)
	sh(t, a.mnt, `
		git init -q repo && cd repo
		git config user.email t@example.com && git config user.name t
		for i in $(seq 1 20); do echo "content $i" > f$i.txt; done
		git add . && git commit -qm one
	`)
	eventually(t, 10*time.Second, "repo's files on B", func() bool {
		out, err := os.ReadFile(b.path("repo/.git/HEAD"))
		_, err2 := os.Stat(b.path("repo/f20.txt"))
		return err == nil && len(out) > 0 && err2 == nil
	})
	// Wait for the whole commit (objects and refs) to have landed: fsck
	// alone passes on a repository whose branch ref has not arrived yet.
	eventually(t, 10*time.Second, "repo complete on B", func() bool {
		fsck := exec.Command("git", "-C", b.path("repo"), "fsck", "--no-progress")
		head := exec.Command("git", "-C", b.path("repo"), "rev-parse", "--verify", "HEAD")
		return fsck.Run() == nil && head.Run() == nil
	})
	out := sh(t, b.mnt, `git clone -q repo clone && cd clone && git log --oneline | wc -l && ls | wc -l`)
	if f := strings.Fields(out); len(f) != 2 || f[0] != "1" || f[1] != "20" {
		t.Fatalf("clone on B: %q, want 1 commit and 20 files", out)
	}
}
