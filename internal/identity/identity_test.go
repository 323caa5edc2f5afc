package identity

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "identity")
	if _, err := Load(dir); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("Load of empty dir: got %v, want ErrNoIdentity", err)
	}
	a, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.Fingerprint != b.Fingerprint || len(a.Fingerprint) != 64 || a.Device != a.Fingerprint[:DeviceLen] {
		t.Fatalf("identity not stable: %q vs %q (device %q)", a.Fingerprint, b.Fingerprint, a.Device)
	}
	cert, err := x509.ParseCertificate(a.Cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if FingerprintOf(cert.Raw) != a.Fingerprint {
		t.Fatal("fingerprint does not match certificate")
	}
	st, err := os.Stat(filepath.Join(dir, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v, want 0600", st.Mode().Perm())
	}
	other, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if other.Fingerprint == a.Fingerprint {
		t.Fatal("two devices got one fingerprint")
	}
}

func TestLoadCorrupt(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadOrCreate(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, certFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || errors.Is(err, ErrNoIdentity) {
		t.Fatalf("corrupt cert: got %v, want a parse error", err)
	}
}
