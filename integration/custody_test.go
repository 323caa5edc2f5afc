package integration

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Two devices with small caches, one writing and the other reading, more
// data than either cache holds: every file whose close returned reads back
// on both devices afterwards. Before custody the first files read EIO on
// both (each device evicted its copy trusting the other's).
func TestSmallCachesLoseNothing(t *testing.T) {
	acct := newAccount(t)
	a := acct.device(t, "--cache-size", "48MiB")
	b := acct.device(t, "--cache-size", "48MiB")
	saved := map[string][]byte{}
	for i := range 8 {
		name := fmt.Sprintf("f%d.bin", i)
		data := make([]byte, 8<<20)
		rand.Read(data)
		if err := os.WriteFile(a.path(name), data, 0o644); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				t.Logf("%s: %v (allowed: nothing is lost)", name, err)
				continue
			}
			t.Fatal(err)
		}
		saved[name] = data
		eventually(t, 10*time.Second, name+" listed on B", func() bool {
			st, err := os.Stat(b.path(name))
			return err == nil && st.Size() == int64(len(data))
		})
		if got, err := os.ReadFile(b.path(name)); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("B reads %s: %v", name, err)
		}
	}
	if len(saved) < 6 {
		t.Errorf("only %d of 8 saves of 8 MiB fit in two 48 MiB caches", len(saved))
	}
	for _, d := range []*device{a, b} {
		for name, data := range saved {
			if got, err := os.ReadFile(d.path(name)); err != nil || !bytes.Equal(got, data) {
				t.Errorf("%s on %s: %v (content equal: %v)", name, filepath.Base(filepath.Dir(d.state)), err, bytes.Equal(got, data))
			}
		}
	}
}

// A device writes files nobody reads and is then lost for good: a device
// that joins later reads every file from the replicas.
func TestLostWriterFilesLiveOnReplicas(t *testing.T) {
	acct := newAccount(t)
	w := acct.device(t)
	r := acct.device(t)
	saved := map[string][]byte{}
	for i := range 10 {
		name := fmt.Sprintf("doc%d.bin", i)
		data := make([]byte, 3<<20)
		rand.Read(data)
		if err := os.WriteFile(w.path(name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		saved[name] = data
	}
	eventually(t, 30*time.Second, "every file kept by two devices", func() bool {
		for name := range saved {
			if xattr(w.path(name), "user.latus.copies") != "2" {
				return false
			}
		}
		return true
	})
	if out := w.mustLatus("status"); !bytes.Contains([]byte(out), []byte("0 files not yet on 2 devices")) {
		t.Errorf("status after replication:\n%s", out)
	}
	// The writer is lost: daemon killed, state gone.
	syscall.Kill(w.daemonPID(), syscall.SIGKILL)
	w.stop()
	os.RemoveAll(w.state)
	n := acct.device(t)
	for name, data := range saved {
		eventually(t, 10*time.Second, name+" listed on the new device", func() bool {
			_, err := os.Stat(n.path(name))
			return err == nil
		})
		if got, err := os.ReadFile(n.path(name)); err != nil || !bytes.Equal(got, data) {
			t.Errorf("new device reads %s: %v", name, err)
		}
	}
	_ = r
}
