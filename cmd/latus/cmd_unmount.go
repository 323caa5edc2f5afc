package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

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
	if out, err := exec.CommandContext(ctx, "fusermount3", "-u", abs).CombinedOutput(); err != nil {
		return fmt.Errorf("unmount %s: %s", mp, strings.TrimSpace(string(out)))
	}
	// The daemon exits once it has closed its stores; its lock says when.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		info, err := runningDaemon(stateDir)
		if err != nil || info == nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("unmounted %s, but the daemon for %s has not exited after 30s; see %s", mp, stateDir, filepath.Join(stateDir, "latus.log"))
}
