package integration

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// control GETs an endpoint of the daemon's control socket.
func (d *device) control(t *testing.T, endpoint string) string {
	t.Helper()
	sock := filepath.Join(d.state, "latus.sock")
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", sock)
	}}}
	resp, err := c.Get("http://latus" + endpoint)
	if err != nil {
		t.Fatalf("GET %s on the control socket: %v", endpoint, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v\n%s", endpoint, resp.Status, err, b)
	}
	return string(b)
}

// metric reads one sample of the daemon's Prometheus metrics.
func (d *device) metric(t *testing.T, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(d.control(t, "/metrics"))
	if m == nil {
		t.Fatalf("metric %s missing", name)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func writeTree(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for p, s := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestImportStatusAndMetrics imports through the daemon and with no daemon,
// reads /status and /metrics, and uses log and restore on paths inside the
// mount point once nothing is mounted.
func TestImportStatusAndMetrics(t *testing.T) {
	d := newDevice(t)
	d.mount()
	live := map[string]string{"docs/a.txt": "alpha", "docs/sub/b.txt": strings.Repeat("b", 300000), "c.txt": "gamma"}
	src := t.TempDir()
	writeTree(t, src, live)
	out := d.mustLatus("import", src)
	if !strings.Contains(out, "imported") {
		t.Fatalf("import through the daemon: %q", out)
	}
	for p, want := range live {
		if got := readFile(t, d.path(p)); got != want {
			t.Fatalf("%s after import: %d bytes, want %d", p, len(got), len(want))
		}
	}

	var st struct {
		Mountpoint string `json:"mountpoint"`
		PID        int    `json:"pid"`
		Files      int    `json:"files"`
		Bytes      int64  `json:"bytes"`
		CacheUsed  int64  `json:"cache_used"`
		CacheCap   int64  `json:"cache_cap"`
	}
	if err := json.Unmarshal([]byte(d.control(t, "/status")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mountpoint != d.mnt || st.PID != d.daemonPID() || st.Files != 3 || st.Bytes != 300010 || st.CacheUsed <= 0 || st.CacheCap < 1<<30 {
		t.Fatalf("/status after import: %+v", st)
	}
	if v := d.metric(t, "latus_files"); v != 3 {
		t.Fatalf("latus_files = %v, want 3", v)
	}
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(d.state, "latus.log"))
			t.Logf("daemon log:\n%s", b)
		}
	}()
	if v := d.metric(t, "latus_cache_bytes"); v <= 0 {
		t.Fatalf("latus_cache_bytes = %v", v)
	}
	// Pending work: a file open for writing is counted until its close.
	f, err := os.OpenFile(d.path("open.txt"), os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("pending")
	if out := d.mustLatus("status"); !strings.Contains(out, "pending:      1 files open for writing") {
		f.Close()
		t.Fatalf("status with a file open for writing:\n%s", out)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if out := d.mustLatus("status"); !strings.Contains(out, "pending:      0 files open for writing") || !strings.Contains(out, "0 jobs running") {
		t.Fatalf("status after the close:\n%s", out)
	}
	before := d.metric(t, "latus_commits_total")
	if err := os.WriteFile(d.path("c.txt"), []byte("gamma 2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if after := d.metric(t, "latus_commits_total"); after <= before {
		t.Fatalf("latus_commits_total %v → %v after a write", before, after)
	}
	d.unmount()

	// No daemon: import opens the stores itself; log and restore resolve
	// a path inside the (now unmounted) mount point.
	offline := t.TempDir()
	writeTree(t, offline, map[string]string{"later/d.txt": "delta"})
	d.mustLatus("import", offline)
	log := d.mustLatus("log", d.path("c.txt"))
	if !strings.Contains(log, "VERSION") || strings.Count(log, "\n") != 3 {
		t.Fatalf("offline log of a path in the mount point:\n%s", log)
	}
	d.mustLatus("restore", d.path("c.txt"), "--version", "1")
	if out, err := d.latus("log", "/etc/passwd"); err == nil || !strings.Contains(out, "not inside") {
		t.Fatalf("log of a path outside the mount: %v %q", err, out)
	}
	if out, err := d.latus("restore", "c.txt", "--version", "9"); err == nil {
		t.Fatalf("restore of a version that does not exist succeeded: %q", out)
	}
	d.mount()
	if got := readFile(t, d.path("later/d.txt")); got != "delta" {
		t.Fatalf("offline import after remount: %q", got)
	}
	if got := readFile(t, d.path("c.txt")); got != "gamma" {
		t.Fatalf("offline restore after remount: %q", got)
	}
}

// TestSigtermUnmountsCleanly: SIGTERM makes the daemon commit, unmount and
// exit, leaving no stale mount, and the files are there on the next mount.
func TestSigtermUnmountsCleanly(t *testing.T) {
	d := newDevice(t)
	d.mount()
	if err := os.WriteFile(d.path("kept.txt"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	pid := d.daemonPID()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatal("the daemon did not exit within 15s of SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if isMounted(d.mnt) {
		t.Fatal("SIGTERM left the mount in place")
	}
	if out, err := d.latus("status"); err == nil || !strings.Contains(out, "no daemon running") {
		t.Fatalf("status after SIGTERM: %v %q", err, out)
	}
	d.mount()
	if got := readFile(t, d.path("kept.txt")); got != "kept" {
		t.Fatalf("after SIGTERM and remount: %q", got)
	}
}
