package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// unmountWait bounds how long `latus unmount` waits for the daemon to close
// its stores and exit once the kernel has let go of the mount.
const unmountWait = 30 * time.Second

func newUnmountCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "unmount MOUNTPOINT",
		Short: "Commit open files, detach the mount and wait for the daemon to exit",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUnmount(cmd.Context(), g, args[0])
		},
	}
}

func runUnmount(ctx context.Context, g *globalOptions, mp string) error {
	stateDir, err := g.stateDir()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(mp)
	if err != nil {
		return err
	}
	info, err := runningDaemon(stateDir)
	if err != nil {
		return err
	}
	if info != nil && !samePath(info.Mountpoint, abs) {
		// Another state dir's mount: detach it, nothing of ours to wait for.
		info = nil
	}
	if info != nil {
		// Commit what open files hold first: fusermount refuses a busy
		// mount, and the user then still has every write as a version.
		if err := dialControl(stateDir).do(ctx, "POST", "/flush", nil, &struct{}{}); err != nil {
			return fmt.Errorf("flush before unmount: %w", err)
		}
	}
	if out, err := exec.CommandContext(ctx, "fusermount3", "-u", abs).CombinedOutput(); err != nil {
		return fmt.Errorf("unmount %s: %s", mp, strings.TrimSpace(string(out)))
	}
	if info == nil {
		return nil
	}
	return waitDaemonExit(ctx, stateDir, unmountWait)
}

// waitDaemonExit blocks until the daemon of stateDir releases its lock,
// which it does as the last thing before exiting.
func waitDaemonExit(ctx context.Context, stateDir string, limit time.Duration) error {
	f, err := os.Open(filepath.Join(stateDir, lockName))
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		// Returns once the daemon's exclusive lock is gone; the process
		// exits right after this function, so a timed-out wait is
		// abandoned with it.
		done <- syscall.Flock(int(f.Fd()), syscall.LOCK_SH)
	}()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case err := <-done:
		f.Close()
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return fmt.Errorf("the mount is detached, but the daemon for %s has not exited after %s; see %s", stateDir, limit, filepath.Join(stateDir, "latus.log"))
	}
}

// samePath says whether a and b name the same directory, through symlinks.
func samePath(a, b string) bool {
	if a == b {
		return true
	}
	ra, erra := filepath.EvalSymlinks(a)
	rb, errb := filepath.EvalSymlinks(b)
	return erra == nil && errb == nil && ra == rb
}
