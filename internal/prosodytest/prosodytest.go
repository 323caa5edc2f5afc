// Package prosodytest runs a private Prosody XMPP server on loopback for
// tests: its own config, data directory, self-signed certificate and free
// ports, so tests never touch the system's Prosody.
//
// The server is configured like a stock Debian Prosody 0.12, because that
// is what users run: mod_limits on with Debian's c2s rate of 10 kB/s
// (burst 2 s), the default 256 KiB c2s stanza size limit, the default
// network settings, and mod_proxy65 as a component (proxy.<Domain>). Code
// that passes here does not depend on a generous server.
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
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Domain is the virtual host every test server serves.
const Domain = "latus.test"

const (
	readyTimeout = 10 * time.Second
	stopTimeout  = 5 * time.Second
)

// Server is one running (or stopped) private Prosody.
type Server struct {
	// Addr is the c2s listener, 127.0.0.1:port (or the first InNetns
	// address); it stays the same across Restart.
	Addr string
	// Port is Addr's port, the same on every listening address.
	Port int
	// Domain is the virtual host (user@Domain accounts).
	Domain string
	// Dir holds the config, data, certificate and log.
	Dir string
	// Proxy65 is the mod_proxy65 component's JID and its stream listener.
	Proxy65, Proxy65Addr string

	config string
	binary string
	ctl    string
	netns  string   // network namespace to run in ("" = the test's own)
	ips    []string // listening addresses

	mu   sync.Mutex // guards cmd and done
	cmd  *exec.Cmd
	done chan struct{}
}

// Option changes the stock configuration for one test server.
type Option func(*settings)

type settings struct {
	unlimited []string // localparts listed in mod_limits' unlimited_jids
	netns     string
	ips       []string
	noProxy   bool
}

// NoProxy65 leaves the mod_proxy65 component out, as on a server that
// offers no bytestream proxy; Proxy65 and Proxy65Addr are then "".
func NoProxy65() Option {
	return func(s *settings) { s.noProxy = true }
}

// InNetns runs the server in the network namespace at path (e.g.
// /run/netns/NAME, made by the test), listening on ips instead of loopback.
func InNetns(path string, ips ...string) Option {
	return func(s *settings) { s.netns, s.ips = path, ips }
}

// Unlimited exempts the accounts user@Domain from mod_limits (its stock
// unlimited_jids option), for tests of code paths whose bulk would take
// minutes at 10 kB/s; everything else stays stock.
func Unlimited(users ...string) Option {
	return func(s *settings) { s.unlimited = append(s.unlimited, users...) }
}

// Start runs a fresh Prosody in t.TempDir() and stops it in t.Cleanup.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var set settings
	for _, o := range opts {
		o(&set)
	}
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
	proxy, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s.netns, s.ips = set.netns, set.ips
	if len(s.ips) == 0 {
		s.ips = []string{"127.0.0.1"}
	}
	s.Port = c2s
	s.Addr = net.JoinHostPort(s.ips[0], strconv.Itoa(c2s))
	if !set.noProxy {
		s.Proxy65, s.Proxy65Addr = "proxy."+Domain, net.JoinHostPort(s.ips[0], strconv.Itoa(proxy))
	}
	if err := s.writeFiles(c2s, proxy, set); err != nil {
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

func (s *Server) writeFiles(c2s, proxy int, set settings) error {
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
	// Stock Debian limits and sizes: only what a test needs (its own
	// ports, files and a root user) differs from /etc/prosody/prosody.cfg.lua.
	cfg := fmt.Sprintf(`-- private test server written by internal/prosodytest
run_as_root = %[1]s
daemonize = false
pidfile = %[2]q
data_path = %[3]q
interfaces = { %[12]s }
local_interfaces = { %[12]s }
c2s_ports = { %[4]d }
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "posix", "limits", "carbons", "blocklist", "smacks" }
modules_disabled = { "s2s" }
limits = {
	c2s = { rate = "10kb/s" };
	s2sin = { rate = "30kb/s" };
}
unlimited_jids = { %[5]s }
authentication = "internal_hashed"
allow_registration = false
c2s_require_encryption = true
storage = "internal"
log = { info = %[6]q; error = %[7]q }
proxy65_ports = { %[8]d }
proxy65_interfaces = { %[12]s }
VirtualHost %[9]q
	ssl = { certificate = %[10]q; key = %[11]q }
`, runAsRoot, filepath.Join(s.Dir, "prosody.pid"), data, c2s, luaJIDs(set.unlimited),
		filepath.Join(s.Dir, "prosody.log"), filepath.Join(s.Dir, "prosody.err"),
		proxy, Domain, certPath, keyPath, luaStrings(s.ips))
	if !set.noProxy {
		cfg += fmt.Sprintf("Component %q \"proxy65\"\n\tproxy65_address = %q\n", s.Proxy65, s.ips[0])
	}
	return os.WriteFile(s.config, []byte(cfg), 0o600)
}

func luaStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// dialIn dials addr from the network namespace at ns ("" = this one). A
// socket belongs to the namespace of the thread that creates it, so the
// dial runs on a locked thread moved into ns; that thread is never
// unlocked, so it ends with its goroutine instead of going back to the pool.
func dialIn(ns, addr string, timeout time.Duration) (net.Conn, error) {
	if ns == "" {
		return net.DialTimeout("tcp", addr, timeout)
	}
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(ns)
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{nil, fmt.Errorf("setns %s: %w", ns, err)}
			return
		}
		c, err := net.DialTimeout("tcp", addr, timeout)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

func luaJIDs(users []string) string {
	q := make([]string, len(users))
	for i, u := range users {
		q[i] = fmt.Sprintf("%q", strings.ToLower(u)+"@"+Domain) // as nodeprep folds it
	}
	return strings.Join(q, ", ")
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
	if s.netns != "" {
		// nsenter enters the namespace and execs prosody: same process.
		cmd = exec.Command("nsenter", "--net="+s.netns, s.binary, "-F", "--config", s.config)
	}
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
		c, err := dialIn(s.netns, s.Addr, 100*time.Millisecond)
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
