package integration

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
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
}

func newAccount(t *testing.T) *account {
	t.Helper()
	srv := prosodytest.Start(t)
	a := &account{srv: srv, pass: "secret-pass"}
	a.jid = srv.Register(t, "alice", a.pass)
	return a
}

// syncDevice is a device configured with the account, mounted.
func (a *account) device(t *testing.T) *device {
	t.Helper()
	d := newDevice(t)
	cfg := fmt.Sprintf("[xmpp]\njid = %q\nserver = %q\npassword = %q\ninsecure_tls = true\n", a.jid, a.srv.Addr, a.pass)
	if err := os.WriteFile(d.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d.mount()
	return d
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
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
