package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// unitName is the systemd user unit `latus service install` writes.
const unitName = "latus.service"

type serviceOptions struct {
	mountpoint string
	noEnable   bool
}

func (o *serviceOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.mountpoint, "mountpoint", "", "where the service mounts the Latus folder (default ~/Latus)")
	fs.BoolVar(&o.noEnable, "no-enable", false, "only write the unit; do not run systemctl")
}

func newServiceCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service install|uninstall",
		Short: "Start the mount at login (or boot) with a systemd user service",
	}
	var o serviceOptions
	install := &cobra.Command{
		Use:   "install [--mountpoint DIR]",
		Short: "Write and enable a systemd user unit that runs latus mount --foreground",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServiceInstall(cmd.Context(), g, o, cmd.OutOrStdout())
		},
	}
	o.AddFlags(install.Flags())
	uninstall := &cobra.Command{
		Use:   "uninstall",
		Short: "Stop, disable and remove the systemd user unit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServiceUninstall(cmd.Context(), cmd.OutOrStdout())
		},
	}
	cmd.AddCommand(install, uninstall)
	return cmd
}

// unitDir is where systemd looks for a user's units.
func unitDir() (string, error) {
	base := os.Getenv("XDG_CONFIG_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the systemd user unit directory: %w", err)
		}
		base = filepath.Join(home, ".config")
	}
	return filepath.Join(base, "systemd", "user"), nil
}

// unitFile is the text of the user unit that serves mountpoint.
func unitFile(exe, stateDir, configFile, mountpoint string) string {
	q := systemdQuote
	base := []string{q(exe), "--state", q(stateDir), "--config", q(configFile)}
	start := strings.Join(append(base, "mount", "--foreground", q(mountpoint)), " ")
	stop := strings.Join(append(base, "unmount", q(mountpoint)), " ")
	return `[Unit]
Description=Latus folder at ` + strings.ReplaceAll(mountpoint, "%", "%%") + `
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=` + start + `
# Commits open files and detaches; the daemon then exits on its own.
ExecStop=` + stop + `
Restart=on-failure
RestartSec=10

[Install]
WantedBy=default.target
`
}

// systemdQuote quotes one word of an Exec line: systemd expands % and $
// and splits on spaces.
func systemdQuote(s string) string {
	s = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%", "$", "$$").Replace(s)
	return `"` + s + `"`
}

func runServiceInstall(ctx context.Context, g *globalOptions, o serviceOptions, out io.Writer) error {
	configFile, stateDir, err := g.paths()
	if err != nil {
		return err
	}
	mp := o.mountpoint
	if mp == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("no home directory for the default mount point: %w; pass --mountpoint DIR", err)
		}
		mp = filepath.Join(home, "Latus")
	}
	if mp, err = filepath.Abs(mp); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the latus binary: %w", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return fmt.Errorf("find the latus binary: %w", err)
	}
	dir, err := unitDir()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	unit := filepath.Join(dir, unitName)
	if err := os.WriteFile(unit, []byte(unitFile(exe, stateDir, configFile, mp)), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", unit, err)
	}
	fmt.Fprintf(out, "wrote %s (mounts %s)\n", unit, mp)
	const linger = "On a machine nobody logs in to (a server), let it start at boot: loginctl enable-linger $USER"

	byHand := "systemctl --user daemon-reload && systemctl --user enable --now " + unitName
	if o.noEnable {
		fmt.Fprintf(out, "not enabled (--no-enable); enable it with: %s\n", byHand)
	} else {
		err := systemctlUser(ctx, "daemon-reload")
		if err == nil {
			err = systemctlUser(ctx, "enable", "--now", unitName)
		}
		if err != nil {
			fmt.Fprintln(out, linger)
			return fmt.Errorf("the unit is written, but enabling it failed: %w\n"+
				"enable it by hand in a login session with a user systemd: %s", err, byHand)
		}
		fmt.Fprintf(out, "enabled and started %s; \"systemctl --user status %s\" shows it, \"journalctl --user -u %s\" its log\n", unitName, unitName, unitName)
	}
	fmt.Fprintln(out, linger)
	return nil
}

func runServiceUninstall(ctx context.Context, out io.Writer) error {
	dir, err := unitDir()
	if err != nil {
		return err
	}
	unit := filepath.Join(dir, unitName)
	if _, err := os.Stat(unit); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no Latus service installed (%s does not exist)", unit)
	}
	// Stop first, so the mount is detached cleanly; a failure is said,
	// not hidden, and the unit is removed all the same.
	stopErr := systemctlUser(ctx, "disable", "--now", unitName)
	if err := os.Remove(unit); err != nil {
		return fmt.Errorf("remove %s: %w", unit, err)
	}
	fmt.Fprintf(out, "removed %s\n", unit)
	if stopErr != nil {
		return fmt.Errorf("the unit is removed, but disabling it failed: %w\n"+
			"if it was running, stop it with \"latus unmount DIR\", then run: systemctl --user daemon-reload", stopErr)
	}
	if err := systemctlUser(ctx, "daemon-reload"); err != nil {
		return fmt.Errorf("the unit is removed, but reloading systemd failed: %w; run: systemctl --user daemon-reload", err)
	}
	fmt.Fprintln(out, "stopped and disabled", unitName)
	return nil
}

// systemctlUser runs systemctl --user; its error carries what it said.
func systemctlUser(ctx context.Context, args ...string) error {
	if _, err := exec.LookPath("systemctl"); err != nil {
		return errors.New("systemctl is not installed (no systemd here)")
	}
	out, err := exec.CommandContext(ctx, "systemctl", append([]string{"--user"}, args...)...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("systemctl --user %s: %s", strings.Join(args, " "), msg)
	}
	return nil
}
