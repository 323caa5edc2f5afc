package devices

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/uberan/latus/internal/identity"
)

const alice, bob = "alice@x", "bob@x"

func newIdentity(t *testing.T) *identity.Identity {
	t.Helper()
	id, err := identity.LoadOrCreate(filepath.Join(t.TempDir(), "identity"))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func openRegistry(t *testing.T, path string, id *identity.Identity, approval bool) *Registry {
	t.Helper()
	r, err := Open(path, Self{Identity: id, Account: alice, RequireApproval: approval})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAdmit(t *testing.T) {
	const dev, fp1, fp2 = "0123456789abcdef", "fp-one", "fp-two"
	steps := []struct {
		name        string
		device      string
		account, fp string
		want        error
	}{
		{"first sight binds", dev, alice, fp1, nil},
		{"same again", dev, alice, fp1, nil},
		{"other account, same id", dev, bob, fp1, ErrTakenOver},
		{"own account, other certificate", dev, alice, fp2, ErrTakenOver},
		{"other device of another account", "fedcba9876543210", bob, fp2, nil},
	}
	path := filepath.Join(t.TempDir(), "devices.json")
	r := openRegistry(t, path, nil, false)
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			_, err := r.Admit(s.device, s.account, s.fp, "laptop")
			if !errors.Is(err, s.want) || (s.want == nil && err != nil) {
				t.Fatalf("Admit: %v, want %v", err, s.want)
			}
		})
	}
	// The binding survives a restart.
	r2 := openRegistry(t, path, nil, false)
	if _, err := r2.Admit(dev, bob, fp2, ""); !errors.Is(err, ErrTakenOver) {
		t.Fatalf("after reopening: %v, want ErrTakenOver", err)
	}
	if e, ok := r2.Lookup(dev); !ok || e.Account != alice || e.Fingerprint != fp1 || e.Name != "laptop" || e.State != Approved || e.FirstSeen.IsZero() {
		t.Fatalf("Lookup: %+v %v", e, ok)
	}
}

// TestOldRecord: a devices.json from before states and names opens with
// every device approved.
func TestOldRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "devices.json")
	old := `{"0123456789abcdef": {"account": "alice@x", "fingerprint": "fp"}}`
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	r := openRegistry(t, path, nil, true)
	if err := r.Check("0123456789abcdef", alice); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

func TestRequireApproval(t *testing.T) {
	self := newIdentity(t)
	other := newIdentity(t)
	friend := newIdentity(t)
	r := openRegistry(t, "", self, true)
	if _, err := r.Admit(other.Device, alice, other.Fingerprint, ""); !errors.Is(err, ErrPending) {
		t.Fatalf("a new own device: %v, want ErrPending", err)
	}
	if err := r.Check(other.Device, alice); !errors.Is(err, ErrPending) {
		t.Fatalf("Check of a pending device: %v", err)
	}
	if r.Trusted(other.Fingerprint) {
		t.Fatal("a pending device's certificate is trusted")
	}
	if _, err := r.Admit(friend.Device, bob, friend.Fingerprint, ""); err != nil {
		t.Fatalf("a friend's device (allowed by --allow): %v", err)
	}
	if _, err := r.Approve(other.Device); err != nil {
		t.Fatal(err)
	}
	if err := r.Check(other.Device, alice); err != nil || !r.Trusted(other.Fingerprint) {
		t.Fatalf("after approval: %v, trusted %v", err, r.Trusted(other.Fingerprint))
	}
}

func TestRemove(t *testing.T) {
	self := newIdentity(t)
	other := newIdentity(t)
	path := filepath.Join(t.TempDir(), "devices.json")
	r := openRegistry(t, path, self, false)
	if _, err := r.Remove(self.Device); !errors.Is(err, ErrSelf) {
		t.Fatalf("removing itself: %v, want ErrSelf", err)
	}
	if _, err := r.Remove(other.Device); !errors.Is(err, ErrUnknown) {
		t.Fatalf("removing an unknown device: %v, want ErrUnknown", err)
	}
	r.Admit(other.Device, alice, other.Fingerprint, "")
	if _, err := r.Remove(other.Device); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Registry{r, openRegistry(t, path, self, false)} {
		if _, err := r.Admit(other.Device, alice, other.Fingerprint, ""); !errors.Is(err, ErrRemoved) {
			t.Fatalf("a removed device's presence: %v, want ErrRemoved", err)
		}
		if err := r.Check(other.Device, alice); !errors.Is(err, ErrRemoved) {
			t.Fatalf("a removed device's IQ: %v, want ErrRemoved", err)
		}
		if r.Trusted(other.Fingerprint) {
			t.Fatal("a removed device's certificate is trusted")
		}
		if _, err := r.Approve(other.Device); !errors.Is(err, ErrRemoved) {
			t.Fatalf("approving a removed device: %v, want ErrRemoved", err)
		}
	}
	if _, err := openRegistry(t, "", nil, false).Remove(other.Device); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("a read-only registry decided: %v", err)
	}
}

// TestMerge: decisions travel from registry to registry; the signer must
// be trusted; a removal wins whatever order decisions arrive in.
func TestMerge(t *testing.T) {
	a, b, c, m := newIdentity(t), newIdentity(t), newIdentity(t), newIdentity(t)
	// ra and rc are two devices of alice that know each other; b is the
	// device to remove; m is a device of bob.
	ra := openRegistry(t, "", a, false)
	rc := openRegistry(t, "", c, false)
	rm, _ := Open("", Self{Identity: m, Account: bob})
	for _, r := range []*Registry{ra, rc} {
		r.Admit(a.Device, alice, a.Fingerprint, "")
		r.Admit(c.Device, alice, c.Fingerprint, "")
		r.Admit(b.Device, alice, b.Fingerprint, "")
	}
	rm.Admit(b.Device, alice, b.Fingerprint, "")
	approve, err := ra.Approve(b.Device)
	if err != nil {
		t.Fatal(err)
	}
	remove, err := ra.Remove(b.Device)
	if err != nil {
		t.Fatal(err)
	}
	byBob, err := rm.Remove(b.Device)
	if err != nil {
		t.Fatal(err)
	}
	forged := remove
	forged.Fingerprint = strings.Repeat("0", 64)
	forged.Device = forged.Fingerprint[:16]
	tampered := approve
	tampered.State = Removed
	tests := []struct {
		name    string
		in      []Decision
		want    State
		changed int
		err     error
	}{
		{"removal", []Decision{remove}, Removed, 1, nil},
		{"approval after removal", []Decision{remove, approve}, Removed, 1, nil},
		{"removal after approval", []Decision{approve, remove}, Removed, 1, nil},
		{"approval of an approved device", []Decision{approve}, Approved, 0, nil},
		{"signed by another account", []Decision{byBob}, Approved, 0, ErrBadDecision},
		{"tampered state", []Decision{tampered}, Approved, 0, ErrBadDecision},
		{"tampered device", []Decision{forged}, Approved, 0, ErrBadDecision},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := openRegistry(t, "", c, false)
			r.Admit(a.Device, alice, a.Fingerprint, "")
			r.Admit(b.Device, alice, b.Fingerprint, "")
			changed, err := r.Merge(tc.in)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("Merge: %v, want %v", err, tc.err)
			}
			if len(changed) != tc.changed {
				t.Fatalf("%d changed, want %d", len(changed), tc.changed)
			}
			if rec, _ := r.Lookup(b.Device); rec.State != tc.want {
				t.Fatalf("state %s, want %s", rec.State, tc.want)
			}
		})
	}

	// A device that never met b learns of its removal from c, which
	// passes on a's decision; a itself is known there.
	if _, err := rc.Merge([]Decision{remove}); err != nil {
		t.Fatal(err)
	}
	fresh := openRegistry(t, "", newIdentity(t), false)
	fresh.Admit(a.Device, alice, a.Fingerprint, "")
	if _, err := fresh.Merge(rc.Decisions()); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Admit(b.Device, alice, b.Fingerprint, ""); !errors.Is(err, ErrRemoved) {
		t.Fatalf("b's first presence after learning of its removal: %v, want ErrRemoved", err)
	}
	// The decisions of a device that is not (or no longer) approved are refused.
	stranger := openRegistry(t, "", newIdentity(t), false)
	if _, err := stranger.Merge(rc.Decisions()); !errors.Is(err, ErrBadDecision) {
		t.Fatalf("a decision by an unknown signer: %v, want ErrBadDecision", err)
	}
}

// TestSeenRate: last-seen times reach the file at most every SeenEvery.
func TestSeenRate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "devices.json")
	r := openRegistry(t, path, nil, false)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return now }
	r.Admit("0123456789abcdef", alice, "fp", "")
	lastOnDisk := func() time.Time {
		rec, _ := openRegistry(t, path, nil, false).Lookup("0123456789abcdef")
		return rec.LastSeen
	}
	first := lastOnDisk()
	now = now.Add(time.Minute)
	r.Check("0123456789abcdef", alice)
	if got := lastOnDisk(); !got.Equal(first) {
		t.Fatalf("a sighting a minute later was written: %v", got)
	}
	now = now.Add(SeenEvery)
	r.Check("0123456789abcdef", alice)
	if got := lastOnDisk(); !got.Equal(now) {
		t.Fatalf("last seen on disk %v, want %v", got, now)
	}
	now = now.Add(time.Second)
	r.Check("0123456789abcdef", alice)
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := lastOnDisk(); !got.Equal(now) {
		t.Fatalf("after Flush: %v, want %v", got, now)
	}
}

func TestFull(t *testing.T) {
	r := openRegistry(t, "", nil, false)
	for i := range MaxDevices {
		if _, err := r.Admit(string(rune(0x1000+i)), alice, "fp", ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Admit("one-more", alice, "fp", ""); !errors.Is(err, ErrFull) {
		t.Fatalf("past MaxDevices: %v, want ErrFull", err)
	}
}

func TestFirstRefusal(t *testing.T) {
	r := openRegistry(t, "", nil, false)
	steps := []struct {
		err  error
		want bool
	}{{ErrRemoved, true}, {ErrRemoved, false}, {ErrPending, true}, {ErrPending, false}}
	for i, s := range steps {
		if got := r.FirstRefusal("d", s.err); got != s.want {
			t.Fatalf("step %d (%v): %v, want %v", i, s.err, got, s.want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(bad, Self{}); err == nil {
		t.Fatal("a corrupt record opened")
	}
	if r, err := Open(filepath.Join(dir, "missing.json"), Self{}); err != nil || r == nil {
		t.Fatalf("a missing record: %v", err)
	}
}
