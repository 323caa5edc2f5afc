package devices

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestAdmit(t *testing.T) {
	const dev, fp1, fp2 = "0123456789abcdef", "fp-one", "fp-two"
	steps := []struct {
		name        string
		device      string
		account, fp string
		want        error
	}{
		{"first sight binds", dev, "alice@x", fp1, nil},
		{"same again", dev, "alice@x", fp1, nil},
		{"other account, same id", dev, "bob@x", fp1, ErrTakenOver},
		{"own account, other certificate", dev, "alice@x", fp2, ErrTakenOver},
		{"other device of another account", "fedcba9876543210", "bob@x", fp2, nil},
	}
	path := filepath.Join(t.TempDir(), "devices.json")
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			_, err := r.Admit(s.device, s.account, s.fp)
			if !errors.Is(err, s.want) || (s.want == nil && err != nil) {
				t.Fatalf("Admit: %v, want %v", err, s.want)
			}
		})
	}
	// The binding survives a restart.
	r2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Admit(dev, "bob@x", fp2); !errors.Is(err, ErrTakenOver) {
		t.Fatalf("after reopening: %v, want ErrTakenOver", err)
	}
	if e, ok := r2.Lookup(dev); !ok || e.Account != "alice@x" || e.Fingerprint != fp1 {
		t.Fatalf("Lookup: %+v %v", e, ok)
	}
}

func TestFull(t *testing.T) {
	r, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	for i := range MaxDevices {
		if _, err := r.Admit(string(rune(0x1000+i)), "a@x", "fp"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Admit("one-more", "a@x", "fp"); !errors.Is(err, ErrFull) {
		t.Fatalf("past MaxDevices: %v, want ErrFull", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(bad); err == nil {
		t.Fatal("a corrupt record opened")
	}
	if r, err := Open(filepath.Join(dir, "missing.json")); err != nil || r == nil {
		t.Fatalf("a missing record: %v", err)
	}
}
