// Package integration runs the built latus binary as a user would: real
// FUSE mounts, real daemons, shell tools inside the mount.
package integration

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var latusBin string

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if os.Getenv("CI") != "" {
			return 1, errors.New("/dev/fuse is missing on CI")
		}
		fmt.Fprintln(os.Stderr, "integration: /dev/fuse missing; skipping")
		return 0, nil
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		if os.Getenv("CI") != "" {
			return 1, errors.New("fusermount3 is missing on CI: run scripts/deps.sh")
		}
		fmt.Fprintln(os.Stderr, "integration: fusermount3 missing; skipping")
		return 0, nil
	}
	dir, err := os.MkdirTemp("", "latus-bin-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(dir)
	latusBin = filepath.Join(dir, "latus")
	out, err := exec.Command("go", "build", "-o", latusBin, "../cmd/latus").CombinedOutput()
	if err != nil {
		return 1, fmt.Errorf("build latus: %v\n%s", err, out)
	}
	return m.Run(), nil
}

// device is one latus state dir and mount point.
type device struct {
	t      testing.TB
	state  string
	mnt    string
	cfg    string
	prefix []string // runs latus under this command (nsenter --net=…), if set
}

func newDevice(t testing.TB) *device {
	t.Helper()
	base := t.TempDir()
	d := &device{t: t, state: filepath.Join(base, "state"), mnt: filepath.Join(base, "mnt"), cfg: filepath.Join(base, "config.toml")}
	t.Cleanup(d.stop)
	return d
}

// latus runs the binary against this device's state dir.
func (d *device) latus(args ...string) (string, error) {
	all := append([]string{latusBin, "--state", d.state, "--config", d.cfg}, args...)
	all = append(append([]string(nil), d.prefix...), all...)
	cmd := exec.Command(all[0], all[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (d *device) mustLatus(args ...string) string {
	d.t.Helper()
	out, err := d.latus(args...)
	if err != nil {
		d.t.Fatalf("latus %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// mount returns once the mount is live: `latus mount` says so by returning.
func (d *device) mount(extra ...string) {
	d.t.Helper()
	d.mustLatus(append(append([]string{"mount"}, extra...), d.mnt)...)
}

func (d *device) path(p string) string { return filepath.Join(d.mnt, p) }

// daemonPID reads the pid from the state lock.
func (d *device) daemonPID() int {
	b, err := os.ReadFile(filepath.Join(d.state, "lock"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	return pid
}

// unmount detaches the mount and waits for the daemon to exit.
func (d *device) unmount() {
	d.t.Helper()
	d.mustLatus("unmount", d.mnt)
}

// stop unmounts whatever is left, even after a failure: bounded retries,
// then a lazy unmount, then kill the daemon.
func (d *device) stop() {
	pid := d.daemonPID()
	for i := 0; i < 20 && isMounted(d.mnt); i++ {
		if exec.Command("fusermount3", "-u", d.mnt).Run() == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if isMounted(d.mnt) {
		exec.Command("fusermount3", "-u", "-z", d.mnt).Run()
	}
	if pid > 0 {
		for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
			time.Sleep(50 * time.Millisecond)
		}
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

func isMounted(dir string) bool {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && f[1] == dir {
			return true
		}
	}
	return false
}

// sh runs a shell script in dir and fails the test if it fails.
func sh(t testing.TB, dir, script string) string {
	t.Helper()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("script failed: %v\n%s\n--- output:\n%s", err, script, out)
	}
	return string(out)
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func requireTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing on CI: scripts/deps.sh installs it", name)
		}
		t.Skipf("%s not installed", name)
	}
}
