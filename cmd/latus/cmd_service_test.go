package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSystemdQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/usr/bin/latus", `"/usr/bin/latus"`},
		{"/home/a b/Latus", `"/home/a b/Latus"`},
		{`/x/100%$HOME"q\`, `"/x/100%%$$HOME\"q\\"`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := systemdQuote(tc.in); got != tc.want {
				t.Fatalf("systemdQuote(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

// TestUnitFileVerifies writes units for awkward paths and has
// systemd-analyze check them, where it is installed.
func TestUnitFileVerifies(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, mp string }{
		{"plain", "/home/u/Latus"},
		{"spaces and percent", "/home/u/My Files 100%"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			unit := unitFile(exe, "/var/lib/latus state", "/etc/latus/config.toml", tc.mp)
			for _, want := range []string{"Restart=on-failure", "mount --foreground", "unmount", "WantedBy=default.target"} {
				if !strings.Contains(unit, want) {
					t.Errorf("unit lacks %q:\n%s", want, unit)
				}
			}
			verifyUnit(t, unit)
		})
	}
}

// verifyUnit runs systemd-analyze verify on unit, skipping with a reason
// where systemd-analyze is missing.
func verifyUnit(t *testing.T, unit string) {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed: cannot verify the unit")
	}
	p := filepath.Join(t.TempDir(), unitName)
	if err := os.WriteFile(p, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", p).CombinedOutput()
	if err != nil || strings.Contains(string(out), unitName) {
		t.Fatalf("systemd-analyze verify: %v\n%s\n%s", err, out, unit)
	}
}
