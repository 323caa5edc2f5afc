package integration

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// deviceID is d's own device id, from the "this device" line of `latus devices`.
func deviceID(t *testing.T, d *device) string {
	t.Helper()
	for _, line := range strings.Split(d.mustLatus("devices"), "\n") {
		if strings.Contains(line, "this device") {
			return strings.Fields(line)[0]
		}
	}
	t.Fatal("latus devices lists no line for this device")
	return ""
}

// deviceLine is the line of `latus devices` on d for device id.
func deviceLine(d *device, id string) string {
	out, _ := d.latus("devices")
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, id) {
			return line
		}
	}
	return ""
}

// TestRemovedDeviceRefused: three devices of one account; C goes offline;
// `latus devices remove B` on A; C comes back, learns of the removal from
// A, and refuses B: B's new files reach neither, A's still reach C.
func TestRemovedDeviceRefused(t *testing.T) {
	acct := newAccount(t)
	acct.config = "replicas = 1\n"
	a, b, c := acct.device(t), acct.device(t), acct.device(t)
	idA, idB, idC := deviceID(t, a), deviceID(t, b), deviceID(t, c)

	if err := os.WriteFile(a.path("hello"), []byte("from A"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*device{b, c} {
		eventually(t, 10*time.Second, "A's file on B and C", func() bool { return readFileOr(d.path("hello")) == "from A" })
	}
	eventually(t, 10*time.Second, "A lists B and C online and approved", func() bool {
		lb, lc := deviceLine(a, idB), deviceLine(a, idC)
		return strings.Contains(lb, "approved") && strings.Contains(lc, "approved") &&
			(strings.Contains(lb, "direct 127.0.0.1:") || strings.Contains(lb, "in-band")) &&
			(strings.Contains(lc, "direct 127.0.0.1:") || strings.Contains(lc, "in-band"))
	})

	c.unmount()
	if out, err := a.latus("devices", "remove", idA); err == nil || !strings.Contains(out, "device you are on") {
		t.Fatalf("removing the device itself: %v\n%s", err, out)
	}
	if out := a.mustLatus("devices", "remove", idB[:8]); !strings.Contains(out, idB) || !strings.Contains(out, "removed") {
		t.Fatalf("latus devices remove on A said:\n%s", out)
	}
	eventually(t, 5*time.Second, "A lists B as removed and refused", func() bool {
		l := deviceLine(a, idB)
		return strings.Contains(l, "removed") && strings.Contains(l, "refused")
	})

	t.Logf("latus devices on A after removing B, C offline:\n%s", a.mustLatus("devices"))
	c.mount()
	eventually(t, 10*time.Second, "C learned of B's removal", func() bool { return strings.Contains(deviceLine(c, idB), "removed") })

	// B's new file reaches no one; A's, written after it, reaches C.
	if err := os.WriteFile(b.path("from-b"), []byte("B"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a.path("after"), []byte("from A, after"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "A's later file on C", func() bool { return readFileOr(c.path("after")) == "from A, after" })
	for name, d := range map[string]*device{"A": a, "C": c} {
		if _, err := os.Stat(d.path("from-b")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s has the removed device's new file (stat: %v)", name, err)
		}
	}
	// B's old versions stay in history.
	if got := readFileOr(c.path("hello")); got != "from A" {
		t.Errorf("C's hello: %q", got)
	}

	// Without its daemon, C still lists B as removed, read from its state dir.
	c.unmount()
	out := c.mustLatus("devices")
	if !strings.Contains(deviceLineIn(out, idB), "removed") || !strings.Contains(out, "no daemon running") {
		t.Fatalf("latus devices on C without a daemon:\n%s", out)
	}
}

// TestPendingDeviceApproved: with require_approval, a new device waits
// (listed pending, its files not taken) until `latus devices approve`.
func TestPendingDeviceApproved(t *testing.T) {
	acct := newAccount(t)
	acct.config = "replicas = 1\n"
	a := acct.device(t)
	// require_approval belongs to [xmpp]: append it to A's section and remount.
	a.unmount()
	cfg, err := os.ReadFile(a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a.cfg, append(cfg, "require_approval = true\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	a.mount()
	b := acct.device(t)
	idB := deviceID(t, b)
	eventually(t, 10*time.Second, "A lists B as pending", func() bool { return strings.Contains(deviceLine(a, idB), "pending") })
	if err := os.WriteFile(b.path("from-b"), []byte("B"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // a refused device gets nothing through: give it a chance to
	if _, err := os.Stat(a.path("from-b")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("A took a pending device's file (stat: %v)", err)
	}
	a.mustLatus("devices", "approve", idB)
	eventually(t, 10*time.Second, "B's file on A after approval", func() bool { return readFileOr(a.path("from-b")) == "B" })
	if l := deviceLine(a, idB); !strings.Contains(l, "approved") {
		t.Fatalf("A lists B as %q after approval", l)
	}
}

func deviceLineIn(out, id string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, id) {
			return line
		}
	}
	return ""
}

func readFileOr(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return string(b)
}
