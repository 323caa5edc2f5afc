// Package identity gives a device its long-lived TLS identity: an ed25519
// self-signed certificate whose SHA-256 fingerprint names the device.
//
// The fingerprint is what peers pin: it travels in XMPP presence, and the
// data channel accepts only the certificate that hashes to it. The short
// device id (16 hex characters) is what history records as a version's
// origin and what users see in conflict copy names.
package identity

import (
	"github.com/uberan/latus/internal/atomicfile"

	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Identity is one device's certificate and the names derived from it.
type Identity struct {
	Cert        tls.Certificate
	Fingerprint string // hex SHA-256 of the certificate DER, 64 characters
	Device      string // first 16 characters of Fingerprint
}

const (
	certFile = "cert.pem"
	keyFile  = "key.pem"
	// DeviceLen is the length of a short device id.
	DeviceLen = 16
)

// ErrNoIdentity is returned by Load when dir holds no identity yet.
var ErrNoIdentity = errors.New("identity: no device identity")

// FingerprintOf returns the hex SHA-256 of a certificate's DER bytes.
func FingerprintOf(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// IsFingerprint reports whether s has the form of a fingerprint: 64
// lowercase hex characters.
func IsFingerprint(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Load reads the identity stored in dir.
func Load(dir string) (*Identity, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, certFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("load identity from %s: %w", dir, ErrNoIdentity)
	}
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil {
		return nil, fmt.Errorf("load identity key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load identity from %s: %w", dir, err)
	}
	return fromCert(cert), nil
}

// LoadOrCreate loads the identity in dir, creating it on first use.
func LoadOrCreate(dir string) (*Identity, error) {
	id, err := Load(dir)
	if !errors.Is(err, ErrNoIdentity) {
		return id, err
	}
	if err := create(dir); err != nil {
		return nil, err
	}
	return Load(dir)
}

func fromCert(cert tls.Certificate) *Identity {
	fp := FingerprintOf(cert.Certificate[0])
	return &Identity{Cert: cert, Fingerprint: fp, Device: fp[:DeviceLen]}
}

func create(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create identity dir: %w", err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("generate identity key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return fmt.Errorf("generate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "latus device"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(100, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return fmt.Errorf("create identity certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("encode identity key: %w", err)
	}
	// The key is written first: a crash between the two writes leaves no
	// cert, so the next start makes a fresh pair instead of a half one.
	if err := atomicfile.Write(filepath.Join(dir, keyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, certFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}
