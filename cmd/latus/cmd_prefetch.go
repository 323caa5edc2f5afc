package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"text/tabwriter"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/uberan/latus/engine"
)

func newPrefetchCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "prefetch PATH",
		Short: "Fetch a file or folder's data from other devices now, with progress",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFetchVerb(cmd.Context(), g, "/prefetch", args[0], "fetching", cmd.ErrOrStderr())
		},
	}
}

func newPinCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "pin [PATH]",
		Short: "Keep a file or folder on this device, now and as it changes; with no PATH, list what is pinned",
		Long: `pin PATH keeps every current and future file under PATH on this device:
they are fetched now, new and changed files are fetched as they arrive,
and none of them is evicted. Pins persist across restarts. "latus unpin
PATH" ends it. With no PATH, pin lists the pinned paths and how much of
each is on this device.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return runPinList(cmd.Context(), g, cmd.OutOrStdout())
			}
			return runFetchVerb(cmd.Context(), g, "/pin", args[0], "pinning", cmd.ErrOrStderr())
		},
	}
}

// pinReport is one line of `latus pin`.
type pinReport struct {
	Path       string `json:"path"`
	Files      int    `json:"files"`
	Bytes      int64  `json:"bytes"`
	LocalBytes int64  `json:"local_bytes"`
}

func pinReports(ps []engine.PinStatus) []pinReport {
	out := make([]pinReport, len(ps))
	for i, p := range ps {
		out[i] = pinReport{Path: p.Path, Files: p.Files, Bytes: p.Bytes, LocalBytes: p.LocalBytes}
	}
	return out
}

func runPinList(ctx context.Context, g *globalOptions, out io.Writer) error {
	stateDir, info, err := requireDaemon(g, "")
	if err != nil {
		return err
	}
	var ps []pinReport
	if err := dialControl(stateDir).do(ctx, "GET", "/pins", nil, &ps); err != nil {
		return err
	}
	if len(ps) == 0 {
		fmt.Fprintln(out, "nothing pinned; \"latus pin PATH\" keeps a file or folder on this device")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tFILES\tSIZE\tLOCAL")
	for _, p := range ps {
		local := "100%"
		if p.Bytes > 0 {
			local = fmt.Sprintf("%.0f%%", 100*float64(p.LocalBytes)/float64(p.Bytes))
			if p.LocalBytes < p.Bytes && local == "100%" {
				local = "99%"
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", filepath.Join(info.Mountpoint, p.Path), p.Files, humanBytes(p.Bytes), local)
	}
	return tw.Flush()
}

func newUnpinCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "unpin PATH",
		Short: "Let a pinned file or folder be evicted again when the cache is full",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFetchVerb(cmd.Context(), g, "/unpin", args[0], "unpinning", cmd.ErrOrStderr())
		},
	}
}

// fetchLine is one line of the daemon's streamed answer to /prefetch, /pin
// and /unpin.
type fetchLine struct {
	Done   int    `json:"done"`
	Total  int    `json:"total"`
	Finish bool   `json:"finish,omitempty"`
	Error  string `json:"error,omitempty"`
}

// runFetchVerb asks the running daemon to fetch (and pin or unpin) the
// chunks under a path, drawing its progress.
func runFetchVerb(ctx context.Context, g *globalOptions, endpoint, arg, verb string, errOut io.Writer) error {
	stateDir, info, err := requireDaemon(g, "")
	if err != nil {
		return err
	}
	p, err := storePath(arg, info.Mountpoint)
	if err != nil {
		return err
	}
	resp, err := dialControl(stateDir).call(ctx, "POST", endpoint, url.Values{"path": {p}})
	if err != nil {
		return fmt.Errorf("%s %s: %w", verb, arg, err)
	}
	defer resp.Body.Close()
	bar := progressbar.NewOptions(-1, progressbar.OptionSetWriter(errOut), progressbar.OptionSetDescription(verb+" chunks"),
		progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var l fetchLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("daemon answer: %w", err)
		}
		if l.Total > 0 {
			bar.ChangeMax(l.Total)
		}
		bar.Set(l.Done)
		if l.Finish {
			bar.Finish()
			if l.Error != "" {
				return fmt.Errorf("%s %s: %s", verb, arg, l.Error)
			}
			fmt.Fprintf(errOut, "%s %s: %d chunks done\n", verb, arg, l.Total)
			return nil
		}
	}
	return errors.New("the daemon stopped answering")
}

// serveFetch answers /prefetch, /pin and /unpin.
func (d *daemon) serveFetch(ctx context.Context, w http.ResponseWriter, p string, mode engine.FetchMode) {
	if mode != engine.Unpin { // a pinned path that is gone can still be unpinned
		if _, err := d.engine.Chunks(p); err != nil {
			httpError(w, err)
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	send := func(l fetchLine) {
		enc.Encode(l)
		if flusher != nil {
			flusher.Flush()
		}
	}
	total := 0
	err := d.engine.Fetch(ctx, p, mode, func(done, n int) {
		total = n
		send(fetchLine{Done: done, Total: n})
	})
	l := fetchLine{Done: total, Total: total, Finish: true}
	if err != nil {
		l.Error = err.Error()
	}
	send(l)
}
