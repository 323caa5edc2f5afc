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

// TestNetnsDirect: two devices in separate network namespaces, each
// reaching the XMPP server (in a third) over its own link, and linked to
// each other directly. Each announces both its addresses; the other
// reaches only one of them, and data must move over that direct link,
// not in-band through the (stock, 10 kB/s) server.
func TestNetnsDirect(t *testing.T) {
	tag := fmt.Sprintf("%d", os.Getpid()%100000)
	srvNS := newNetns(t, "latus-s"+tag)
	aNS := newNetns(t, "latus-a"+tag)
	bNS := newNetns(t, "latus-b"+tag)
	// 10.213.0.0/16 is private and used only inside these namespaces.
	link(t, srvNS, "ls"+tag+"a", "10.213.1.1/24", aNS, "la"+tag+"s", "10.213.1.2/24")
	link(t, srvNS, "ls"+tag+"b", "10.213.2.1/24", bNS, "lb"+tag+"s", "10.213.2.2/24")
	link(t, aNS, "la"+tag+"b", "10.213.3.1/24", bNS, "lb"+tag+"a", "10.213.3.2/24")

	srv := prosodytest.Start(t, prosodytest.InNetns(srvNS.path, "10.213.1.1", "10.213.2.1"))
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
	a := device(aNS, "10.213.1.1")
	b := device(bNS, "10.213.2.1")

	// 3 MiB would take about five minutes in-band at 10 kB/s.
	data := make([]byte, 3<<20)
	rand.Read(data)
	if err := os.WriteFile(a.path("over-the-link.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "file from A listed on B", func() bool {
		st, err := os.Stat(b.path("over-the-link.bin"))
		return err == nil && st.Size() == int64(len(data))
	})
	got, err := os.ReadFile(b.path("over-the-link.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("B read different bytes")
	}
	// B reached A over the direct link (A's 10.213.3.1), found by racing
	// A's announced addresses (10.213.1.2 is unreachable from B).
	status := b.mustLatus("status")
	if !strings.Contains(status, "direct 10.213.3.1:") {
		t.Fatalf("B's status does not show a direct connection over the link:\n%s", status)
	}
}
