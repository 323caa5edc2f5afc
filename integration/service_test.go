package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestServiceInstall has the built binary write its systemd user unit,
// verifies it with systemd-analyze, and removes it again. Where no user
// systemd runs (CI containers), enabling must fail loudly, unit written.
func TestServiceInstall(t *testing.T) {
	d := newDevice(t)
	xdg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", xdg)
	unit := filepath.Join(xdg, "systemd", "user", "latus.service")
	out := d.mustLatus("service", "install", "--no-enable", "--mountpoint", d.mnt)
	if !strings.Contains(out, unit) || !strings.Contains(out, "loginctl enable-linger") {
		t.Errorf("install said:\n%s", out)
	}
	text := readFile(t, unit)
	for _, want := range []string{latusBin, "mount --foreground", `"` + d.mnt + `"`, "Restart=on-failure", "ExecStop="} {
		if !strings.Contains(text, want) {
			t.Errorf("unit lacks %q:\n%s", want, text)
		}
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze not installed: the unit is not verified")
	} else if out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput(); err != nil || strings.Contains(string(out), "latus.service") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	if exec.Command("systemctl", "--user", "is-system-running").Run() != nil {
		// No user systemd to talk to: the failure is said, the unit kept.
		out, err := d.latus("service", "install", "--mountpoint", d.mnt)
		if err == nil || !strings.Contains(out, "enabling it failed") || !strings.Contains(out, "systemctl --user enable --now latus.service") {
			t.Errorf("install without a user systemd: %v\n%s", err, out)
		}
		if _, err := os.Stat(unit); err != nil {
			t.Errorf("unit after a failed enable: %v", err)
		}
		out, err = d.latus("service", "uninstall")
		if err == nil || !strings.Contains(out, "disabling it failed") {
			t.Errorf("uninstall without a user systemd: %v\n%s", err, out)
		}
	} else {
		// A real user systemd: do not start a service from a test.
		if err := os.Remove(unit); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(unit); !os.IsNotExist(err) {
		t.Errorf("unit still there after uninstall: %v", err)
	}
	if out, err := d.latus("service", "uninstall"); err == nil || !strings.Contains(out, "no Latus service installed") {
		t.Errorf("second uninstall: %v\n%s", err, out)
	}
}
