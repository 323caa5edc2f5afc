package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/uberan/latus/chunks"
)

func newStatusCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the running daemon: mount, files, cache use, devices",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStatus(cmd.Context(), g, cmd.OutOrStdout())
		},
	}
}

func runStatus(ctx context.Context, g *globalOptions, out io.Writer) error {
	stateDir, err := g.stateDir()
	if err != nil {
		return err
	}
	info, err := runningDaemon(stateDir)
	if err != nil {
		return err
	}
	if info == nil {
		return fmt.Errorf("no daemon running for state dir %s; start one with \"latus mount DIR\"", stateDir)
	}
	var r statusReport
	if err := dialControl(stateDir).do(ctx, "GET", "/status", nil, &r); err != nil {
		return err
	}
	fmt.Fprintf(out, "mount point:  %s\n", r.Mountpoint)
	fmt.Fprintf(out, "daemon:       pid %d, up %s\n", r.PID, time.Since(r.StartedAt).Round(time.Second))
	fmt.Fprintf(out, "state dir:    %s\n", r.StateDir)
	fmt.Fprintf(out, "device:       %s\n", r.Device)
	fmt.Fprintf(out, "files:        %d files, %d folders, %s, %d versions kept\n", r.Files, r.Dirs, humanBytes(r.Bytes), r.Versions)
	capText := "no cap"
	if r.CacheCap > 0 {
		capText = humanBytes(r.CacheCap) + fmt.Sprintf(" (%.0f%%)", 100*float64(r.CacheUsed)/float64(r.CacheCap))
	}
	fmt.Fprintf(out, "cache:        %s of %s in %d chunks; %d only on this device, %d pinned\n", humanBytes(r.CacheUsed), capText, r.Chunks, r.LocalOnly, r.Pinned)
	fmt.Fprintf(out, "pending:      %d files open for writing (committed on close), %d jobs running (import, prefetch, pin)\n", r.OpenForWrite, r.Jobs)
	for _, p := range r.Kept {
		fmt.Fprintf(out, "kept:         %s: its last write could not be stored (cache full?); kept in %s, stored again at the next mount\n", p, filepath.Join(r.StateDir, "staging", "failed"))
	}
	fmt.Fprintf(out, "transfers:    %d chunk downloads in flight (up to %s), %s downloaded, %d failed; %d chunks waiting to reach another device\n",
		r.Downloading, humanBytes(int64(r.Downloading)*chunks.MaxChunk), humanBytes(r.Downloaded), r.FetchFailed, r.LocalOnly)
	fmt.Fprintf(out, "retention:    %s; pruned since start: %d versions by policy, %d because the cache was full; %d unreferenced chunks collected (%s)\n",
		r.Retention, r.PrunedPolicy, r.PrunedPressure, r.Collected, humanBytes(r.CollectedBytes))
	if r.XMPP == "" {
		fmt.Fprintf(out, "sync:         local only (no XMPP account; see \"latus init\")\n")
		return nil
	}
	fmt.Fprintf(out, "sync:         %s\n", r.XMPP)
	fmt.Fprintf(out, "copies:       %d files not yet on %d devices; %d chunks copied to other devices, %d handed over under cache pressure",
		r.Unreplicated, r.Replicas, r.Replicated, r.Released)
	if r.BadProofs > 0 {
		fmt.Fprintf(out, "; %d false claims refused", r.BadProofs)
	}
	fmt.Fprintln(out)
	for _, dev := range r.Devices {
		state, via := "offline", ""
		if dev.Online {
			state, via = "online", "in-band"
			if dev.Direct != "" {
				via = "direct " + dev.Direct
			}
			via += ", receiving " + humanBytes(int64(dev.RecvRate)) + "/s"
		}
		fmt.Fprintf(out, "  device %s  %-7s  %s  %s\n", dev.Device, state, dev.JID, via)
	}
	return nil
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
