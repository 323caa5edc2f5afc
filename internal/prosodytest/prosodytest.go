// Package prosodytest runs a private Prosody XMPP server on loopback for
// tests: its own config, data directory, self-signed certificate and free
// ports, so tests never touch the system's Prosody.
//
// Start skips the test when prosody is not installed, unless the CI
// environment variable is set: there a missing server is a failure.
package prosodytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Domain is the virtual host every test server serves.
const Domain = "latus.test"

const (
	readyTimeout = 10 * time.Second
	stopTimeout  = 5 * time.Second
)

// Server is one running (or stopped) private Prosody.
type Server struct {
	// Addr is the c2s listener, 127.0.0.1:port; it stays the same across Restart.
	Addr string
	// Domain is the virtual host (user@Domain accounts).
	Domain string
	// Dir holds the config, data, certificate and log.
	Dir string

	config string
	binary string
	ctl    string

	mu   sync.Mutex // guards cmd and done
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs a fresh Prosody in t.TempDir() and stops it in t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("prosody")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("prosody is not installed (CI requires it): %v", err)
		}
		t.Skipf("prosody is not installed: %v", err)
	}
	ctl, err := exec.LookPath("prosodyctl")
	if err != nil {
		t.Fatalf("prosody is installed but prosodyctl is not: %v", err)
	}
	dir := t.TempDir()
	s := &Server{Domain: Domain, Dir: dir, binary: bin, ctl: ctl, config: filepath.Join(dir, "prosody.cfg.lua")}
	c2s, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = fmt.Sprintf("127.0.0.1:%d", c2s)
	if err := s.writeFiles(c2s); err != nil {
		t.Fatal(err)
	}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) writeFiles(c2s int) error {
	data := filepath.Join(s.Dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	certPath, keyPath := filepath.Join(s.Dir, Domain+".crt"), filepath.Join(s.Dir, Domain+".key")
	if err := writeCert(certPath, keyPath, Domain); err != nil {
		return err
	}
	runAsRoot := "false"
	if os.Geteuid() == 0 {
		runAsRoot = "true"
	}
	cfg := fmt.Sprintf(`-- private test server written by internal/prosodytest
run_as_root = %s
daemonize = false
pidfile = %q
data_path = %q
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { %d }
c2s_stanza_size_limit = 1024*1024
-- Prosody pauses min_wait (1 ms) after each read_size read while more TLS
-- data is buffered: with the defaults a 170 KiB stanza waits ~20 ms per hop.
network_settings = { nagle = false; read_size = 65536; min_wait = 0.00001 }
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "posix" }
modules_disabled = { "s2s", "limits", "offline", "c2s_limits" }
authentication = "internal_hashed"
allow_registration = false
c2s_require_encryption = true
storage = "internal"
log = { info = %q; error = %q }
VirtualHost %q
	ssl = { certificate = %q; key = %q }
`, runAsRoot, filepath.Join(s.Dir, "prosody.pid"), data, c2s,
		filepath.Join(s.Dir, "prosody.log"), filepath.Join(s.Dir, "prosody.err"),
		Domain, certPath, keyPath)
	return os.WriteFile(s.config, []byte(cfg), 0o600)
}

func writeCert(certPath, keyPath, host string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: host},
		DNSNames:              []string{host},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("create test server certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
}

func (s *Server) start() error {
	cmd := exec.Command(s.binary, "-F", "--config", s.config)
	cmd.Dir = s.Dir
	out, err := os.OpenFile(filepath.Join(s.Dir, "prosody.out"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start prosody: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	deadline := time.Now().Add(readyTimeout)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("prosody exited during startup: %s", s.logs())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("prosody not listening on %s after %v: %s", s.Addr, readyTimeout, s.logs())
		}
	}
}

// logs returns the tail of the server's output and logs, for failures.
func (s *Server) logs() string {
	var b strings.Builder
	for _, name := range []string{"prosody.out", "prosody.err", "prosody.log"} {
		data, _ := os.ReadFile(filepath.Join(s.Dir, name))
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "\n--- %s ---\n%s", name, data)
	}
	return b.String()
}

// Register creates the account user@Domain with password pass.
func (s *Server) Register(t testing.TB, user, pass string) string {
	t.Helper()
	cmd := exec.Command(s.ctl, "--config", s.config, "register", user, s.Domain, pass)
	cmd.Dir = s.Dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("prosodyctl register %s@%s: %v\n%s", user, s.Domain, err, out)
	}
	return user + "@" + s.Domain
}

// signal sends sig to the server process, if running.
func (s *Server) signal(sig syscall.Signal) (chan struct{}, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil, false
	}
	select {
	case <-s.done:
		return s.done, false
	default:
	}
	_ = s.cmd.Process.Signal(sig)
	return s.done, true
}

// Stop ends the server: SIGTERM, then SIGKILL if it has not exited within
// a few seconds. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	done, ok := s.signal(syscall.SIGCONT) // a paused server cannot handle SIGTERM
	if !ok {
		return
	}
	s.signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(stopTimeout):
		s.Kill()
	}
}

// Kill ends the server abruptly (SIGKILL), like a crash, and waits for it.
func (s *Server) Kill() {
	if done, ok := s.signal(syscall.SIGKILL); ok {
		<-done
	}
}

// Pause freezes the server (SIGSTOP): connections stay open but nothing
// is answered, as with a hung server. Resume undoes it.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

// Restart starts the server again on the same port and data (accounts are
// kept), after Stop or Kill.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
}
