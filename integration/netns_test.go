package integration

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/uberan/latus/internal/prosodytest"
)

// netns is a network namespace this test made; it goes in t.Cleanup,
// taking its veth ends (and so their peers) with it.
type netns struct {
	name string
	path string
}

func ipCmd(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newNetns makes a namespace with loopback up, or skips the test when the
// system refuses to (not root, no CAP_SYS_ADMIN, a restricted container).
func newNetns(t testing.TB, name string) *netns {
	t.Helper()
	requireTool(t, "ip")
	requireTool(t, "nsenter")
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("creating a network namespace was refused (needs root with CAP_SYS_ADMIN): ip netns add %s: %v: %s", name, err, out)
	}
	n := &netns{name: name, path: filepath.Join("/run/netns", name)}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	n.ip(t, "link", "set", "lo", "up")
	return n
}

func (n *netns) ip(t testing.TB, args ...string) {
	t.Helper()
	ipCmd(t, append([]string{"-n", n.name}, args...)...)
}

// link joins a and b with a veth pair, addressed aIP and bIP (CIDR).
func link(t testing.TB, a *netns, aIf, aIP string, b *netns, bIf, bIP string) {
	t.Helper()
	ipCmd(t, "link", "add", aIf, "netns", a.name, "type", "veth", "peer", "name", bIf, "netns", b.name)
	a.ip(t, "addr", "add", aIP, "dev", aIf)
	b.ip(t, "addr", "add", bIP, "dev", bIf)
	a.ip(t, "link", "set", aIf, "up")
	b.ip(t, "link", "set", bIf, "up")
}

// netnsPair is two devices in namespaces of their own, each reaching a
// stock Prosody (in a third namespace) over its own link and routed to
// the server's other address too, so both reach the proxy (which listens
// on the first); the server namespace does not forward, so the devices
// do not reach each other through it.
type netnsSetup struct {
	direct  bool   // a second link joins the devices' namespaces
	noProxy bool   // the server offers no bytestream proxy
	config  string // top-level config.toml lines of both devices
}

// netnsPair's namespaces, for code of the test that runs in them.
type netnsPair struct {
	srv  *prosodytest.Server
	a, b *device
	aNS  *netns
	bNS  *netns
}

func newNetnsPair(t testing.TB, set netnsSetup) netnsPair {
	t.Helper()
	tag := fmt.Sprintf("%d", os.Getpid()%100000)
	srvNS := newNetns(t, "latus-s"+tag)
	aNS := newNetns(t, "latus-a"+tag)
	bNS := newNetns(t, "latus-b"+tag)
	// 10.213.0.0/16 is private and used only inside these namespaces.
	link(t, srvNS, "ls"+tag+"a", "10.213.1.1/24", aNS, "la"+tag+"s", "10.213.1.2/24")
	link(t, srvNS, "ls"+tag+"b", "10.213.2.1/24", bNS, "lb"+tag+"s", "10.213.2.2/24")
	aNS.ip(t, "route", "add", "10.213.2.0/24", "via", "10.213.1.1")
	bNS.ip(t, "route", "add", "10.213.1.0/24", "via", "10.213.2.1")
	if set.direct {
		link(t, aNS, "la"+tag+"b", "10.213.3.1/24", bNS, "lb"+tag+"a", "10.213.3.2/24")
	}
	opts := []prosodytest.Option{prosodytest.InNetns(srvNS.path, "10.213.1.1", "10.213.2.1")}
	if set.noProxy {
		opts = append(opts, prosodytest.NoProxy65())
	}
	srv := prosodytest.Start(t, opts...)
	const pass = "secret-pass"
	jid := srv.Register(t, "alice", pass)
	device := func(ns *netns, server string) *device {
		d := newDevice(t)
		d.prefix = []string{"nsenter", "--net=" + ns.path}
		// No data_addr: the default, every interface of its namespace.
		cfg := set.config + fmt.Sprintf("[xmpp]\njid = %q\nserver = %q\npassword = %q\ninsecure_tls = true\n", jid, fmt.Sprintf("%s:%d", server, srv.Port), pass)
		if err := os.WriteFile(d.cfg, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		d.mount()
		return d
	}
	return netnsPair{srv: srv, a: device(aNS, "10.213.1.1"), b: device(bNS, "10.213.2.1"), aNS: aNS, bNS: bNS}
}

// moveFile writes size random bytes on a and reads them on b.
func (n netnsPair) moveFile(t testing.TB, name string, size int, within time.Duration) time.Duration {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(n.a.path(name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, within, "file from A listed on B", func() bool {
		st, err := os.Stat(n.b.path(name))
		return err == nil && st.Size() == int64(len(data))
	})
	start := time.Now()
	got, err := os.ReadFile(n.b.path(name))
	read := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("B read different bytes")
	}
	return read
}

// TestNetnsDirect: the devices' namespaces are linked directly. Each
// announces both its addresses; the other reaches only one of them, and
// data must move over that direct link, not through the server.
func TestNetnsDirect(t *testing.T) {
	n := newNetnsPair(t, netnsSetup{direct: true})
	// 3 MiB would take about five minutes in-band at 10 kB/s.
	n.moveFile(t, "over-the-link.bin", 3<<20, 30*time.Second)
	// B reached A over the direct link (A's 10.213.3.1), found by racing
	// A's announced addresses (10.213.1.2 is unreachable from B).
	if status := n.b.mustLatus("status"); !strings.Contains(status, "direct 10.213.3.1:") {
		t.Fatalf("B's status does not show a direct connection over the link:\n%s", status)
	}
}

// TestNetnsRelay: the devices reach the server but not each other; data
// moves through the server's SOCKS5 proxy (mod_proxy65), which the
// server's 10 kB/s client limit does not throttle.
func TestNetnsRelay(t *testing.T) {
	n := newNetnsPair(t, netnsSetup{})
	n.moveFile(t, "through-the-proxy.bin", 3<<20, 60*time.Second)
	if status := n.b.mustLatus("status"); !strings.Contains(status, "relay "+n.srv.Proxy65) {
		t.Fatalf("B's status does not show the relay %s:\n%s", n.srv.Proxy65, status)
	}
}

// TestNetnsInBand: the devices reach the server but not each other, and
// the server has no proxy: data moves in-band through the server, at its
// 10 kB/s client limit, so the file is small.
func TestNetnsInBand(t *testing.T) {
	n := newNetnsPair(t, netnsSetup{noProxy: true})
	n.moveFile(t, "in-band.bin", 20<<10, 90*time.Second)
	if status := n.b.mustLatus("status"); !strings.Contains(status, "in-band") {
		t.Fatalf("B's status does not show in-band transfer:\n%s", status)
	}
}

// inNetns runs fn on a thread moved into the namespace at path: sockets
// fn makes belong to it for good. The thread is never unlocked, so it
// ends with its goroutine instead of going back to the pool.
func inNetns(path string, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(path)
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns %s: %w", path, err)
			return
		}
		done <- fn()
	}()
	return <-done
}

// plainTLSAcross sends size bytes from a TLS listener in from's namespace
// at addr to a client in to's, with io.Copy, and returns how long the
// client took to read them.
func plainTLSAcross(b testing.TB, from, to *netns, addr string, size int) time.Duration {
	b.Helper()
	cert, err := selfSigned()
	if err != nil {
		b.Fatal(err)
	}
	var ln net.Listener
	if err := inNetns(from.path, func() (err error) {
		ln, err = tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	sent := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			sent <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(c, io.LimitReader(zeroReader{}, int64(size)))
		sent <- err
	}()
	var c net.Conn
	if err := inNetns(to.path, func() (err error) {
		c, err = tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	n, err := io.Copy(io.Discard, c)
	el := time.Since(start)
	if err != nil || n != int64(size) {
		b.Fatalf("plain TLS copy across the link: %d bytes, %v", n, err)
	}
	if err := <-sent; err != nil {
		b.Fatal(err)
	}
	return el
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// BenchmarkNetnsDirect measures a file's first read on B, fetched from A
// over the direct link between their namespaces, beside a plain TLS
// io.Copy of as many bytes across the same link.
func BenchmarkNetnsDirect(b *testing.B) {
	const size = 64 << 20
	for range b.N {
		n := newNetnsPair(b, netnsSetup{direct: true, config: "replicas = 1\n"})
		read := n.moveFile(b, "bench.bin", size, 60*time.Second)
		if status := n.b.mustLatus("status"); !strings.Contains(status, "direct 10.213.3.1:") {
			b.Fatalf("B did not read over the direct link:\n%s", status)
		}
		plain := plainTLSAcross(b, n.aNS, n.bNS, "10.213.3.1:0", size)
		rate, base := float64(size)/(1<<20)/read.Seconds(), float64(size)/(1<<20)/plain.Seconds()
		b.ReportMetric(rate, "MiB/s")
		b.ReportMetric(base, "plainTLS-MiB/s")
		b.ReportMetric(rate/base, "ratio")
		fmt.Printf("%-28s %9s  %-34s %9s  %s\n", "transfer", "MiB/s", "baseline", "MiB/s", "ratio")
		fmt.Printf("%-28s %9.1f  %-34s %9.1f  %.2f\n", "direct (netns veth, read)", rate, "plain TLS io.Copy, same veth", base, rate/base)
	}
}
