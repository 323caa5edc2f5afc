package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

func newStatusCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "status [PATH]",
		Short: "Show the running daemon (mount, files, cache use, devices), or one file or folder",
		Long: `status shows the running daemon. status PATH shows one file or folder:
whether its content is here (local, partial or remote), whether it is
pinned, how many devices hold all of it, the versions kept and its last
change.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				return runPathStatus(cmd.Context(), g, args[0], cmd.OutOrStdout())
			}
			return runStatus(cmd.Context(), g, cmd.OutOrStdout())
		},
	}
}

func runPathStatus(ctx context.Context, g *globalOptions, arg string, out io.Writer) error {
	stateDir, info, err := requireDaemon(g, `"latus log PATH" works without one`)
	if err != nil {
		return err
	}
	p, err := storePath(arg, info.Mountpoint)
	if err != nil {
		return err
	}
	var r pathReport
	if err := dialControl(stateDir).do(ctx, "GET", "/stat", url.Values{"path": {p}}, &r); err != nil {
		if errors.Is(err, meta.ErrNotFound) {
			return fmt.Errorf("status %s: %w (if it was deleted, \"latus log --deleted\" lists it and \"latus restore\" brings it back)", arg, err)
		}
		return fmt.Errorf("status %s: %w", arg, err)
	}
	printPathReport(out, r)
	return nil
}

func runStatus(ctx context.Context, g *globalOptions, out io.Writer) error {
	stateDir, _, err := requireDaemon(g, "")
	if err != nil {
		return err
	}
	var r statusReport
	if err := dialControl(stateDir).do(ctx, "GET", "/status", nil, &r); err != nil {
		return err
	}
	fmt.Fprintf(out, "mount point:  %s\n", r.Mountpoint)
	fmt.Fprintf(out, "daemon:       pid %d, up %s\n", r.PID, time.Since(r.StartedAt).Round(time.Second))
	fmt.Fprintf(out, "state dir:    %s\n", r.StateDir)
	fmt.Fprintf(out, "device:       %s\n", r.Device)
	fmt.Fprintf(out, "files:        %d files, %d folders, %s, %d versions kept; %d ignored files (on this device only)\n", r.Files, r.Dirs, humanBytes(r.Bytes), r.Versions, r.Ignored)
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
	for _, w := range r.Watches {
		line := fmt.Sprintf("following:    %s: %s, %d scans, %d of %d entries in the last, %d deleted", w.Dir, w.State, w.Scans, w.Progress.Files, w.Progress.TotalFiles, w.Deleted)
		if w.Error != "" {
			line += "; last error: " + w.Error
		}
		fmt.Fprintln(out, line)
	}
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
			state, via = "online", dev.Transport
			if via == "" {
				via = "no data channel yet"
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
