package integration

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
type netnsPair struct {
	srv  *prosodytest.Server
	a, b *device
}

type netnsSetup struct {
	direct  bool // a second link joins the devices' namespaces
	noProxy bool // the server offers no bytestream proxy
}

func newNetnsPair(t *testing.T, set netnsSetup) netnsPair {
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
		cfg := fmt.Sprintf("[xmpp]\njid = %q\nserver = %q\npassword = %q\ninsecure_tls = true\n", jid, fmt.Sprintf("%s:%d", server, srv.Port), pass)
		if err := os.WriteFile(d.cfg, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		d.mount()
		return d
	}
	return netnsPair{srv: srv, a: device(aNS, "10.213.1.1"), b: device(bNS, "10.213.2.1")}
}

// moveFile writes size random bytes on a and reads them on b.
func (n netnsPair) moveFile(t *testing.T, name string, size int, within time.Duration) {
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
	got, err := os.ReadFile(n.b.path(name))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("B read different bytes")
	}
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
