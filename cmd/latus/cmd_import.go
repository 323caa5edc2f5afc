package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/internal/identity"
	"github.com/uberan/latus/meta"
)

type importOptions struct{ watch, stop bool }

func (o *importOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.watch, "watch", false, "after the import, keep following DIR: new, changed and deleted files reach Latus (needs a running daemon)")
	fs.BoolVar(&o.stop, "stop", false, "stop following DIR")
}

func newImportCommand(g *globalOptions) *cobra.Command {
	var o importOptions
	cmd := &cobra.Command{
		Use:   "import [--watch | --stop] DIR",
		Short: "Copy an existing folder into Latus (its files become the first versions), or follow it",
		Long: `import copies DIR into the Latus root. With --watch the daemon then keeps
following DIR (fsnotify events, and a rescan every 10 minutes): new and
changed files are imported, files deleted from DIR are deleted in Latus
(only files the import brought), and "latus status" shows it. --stop ends
it. .latusignore files and the default ignores apply.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.watch && o.stop {
				return usageError{errors.New("import takes --watch or --stop, not both")}
			}
			if o.stop {
				return runImportStop(cmd.Context(), g, args[0], cmd.ErrOrStderr())
			}
			return runImport(cmd.Context(), g, o, args[0], cmd.ErrOrStderr())
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runImportStop(ctx context.Context, g *globalOptions, dir string, errOut io.Writer) error {
	stateDir, err := g.stateDir()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	info, err := runningDaemon(stateDir)
	if err != nil {
		return err
	}
	if info == nil {
		return fmt.Errorf("no daemon running for state dir %s: nothing is followed", stateDir)
	}
	var out struct{}
	if err := dialControl(stateDir).do(ctx, "POST", "/watch/stop", url.Values{"dir": {abs}}, &out); err != nil {
		return fmt.Errorf("import --stop %s: %w", dir, err)
	}
	fmt.Fprintf(errOut, "stopped following %s\n", dir)
	return nil
}

// importLine is one line of the daemon's streamed answer to /import.
type importLine struct {
	meta.ImportProgress
	Done  bool   `json:"done,omitempty"`
	Error string `json:"error,omitempty"`
}

func runImport(ctx context.Context, g *globalOptions, o importOptions, dir string, errOut io.Writer) error {
	stateDir, err := g.stateDir()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return fmt.Errorf("import %s: not a directory", dir)
	}
	bar := progressbar.NewOptions64(-1, progressbar.OptionSetWriter(errOut), progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription("importing"), progressbar.OptionThrottle(100_000_000), progressbar.OptionClearOnFinish())
	progress := func(p meta.ImportProgress) {
		if p.TotalBytes > 0 {
			bar.ChangeMax64(p.TotalBytes)
		}
		bar.Set64(p.Bytes)
		bar.Describe(fmt.Sprintf("importing %d/%d files", p.Files, p.TotalFiles))
	}
	info, err := runningDaemon(stateDir)
	if err != nil {
		return err
	}
	switch {
	case o.watch && info == nil:
		return fmt.Errorf("import --watch %s: the daemon follows folders; start it with \"latus mount DIR\" first", dir)
	case o.watch:
		err = importThroughDaemon(ctx, stateDir, "/watch", abs, progress)
	case info != nil:
		err = importThroughDaemon(ctx, stateDir, "/import", abs, progress)
	default:
		err = importOffline(ctx, stateDir, abs, progress)
	}
	bar.Finish()
	if err != nil {
		return fmt.Errorf("import %s: %w", dir, err)
	}
	fmt.Fprintf(errOut, "imported %s\n", dir)
	if o.watch {
		fmt.Fprintf(errOut, "following %s: its changes reach Latus until \"latus import --stop %s\"\n", dir, dir)
	}
	return nil
}

func importThroughDaemon(ctx context.Context, stateDir, endpoint, dir string, progress func(meta.ImportProgress)) error {
	resp, err := dialControl(stateDir).call(ctx, "POST", endpoint, url.Values{"dir": {dir}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var l importLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("daemon answer: %w", err)
		}
		if l.Done {
			if l.Error != "" {
				return errors.New(l.Error)
			}
			return nil
		}
		progress(l.ImportProgress)
	}
	return fmt.Errorf("the daemon stopped answering: %v", sc.Err())
}

func importOffline(ctx context.Context, stateDir, dir string, progress func(meta.ImportProgress)) error {
	if err := prepareStateDir(stateDir); err != nil {
		return err
	}
	lock, err := acquireLock(stateDir)
	if err != nil {
		return err
	}
	defer lock.Close()
	id, err := identity.LoadOrCreate(filepath.Join(stateDir, "identity"))
	if err != nil {
		return err
	}
	db, err := meta.Open(filepath.Join(stateDir, "meta.db"), meta.Options{Device: id.Device})
	if err != nil {
		return err
	}
	defer db.Close()
	store, err := openOfflineStore(stateDir)
	if err != nil {
		return err
	}
	defer store.Close()
	tree := newTreeIgnores(db, func(_ context.Context, id chunks.ID) ([]byte, error) { return store.Read(id) }, slog.New(slog.DiscardHandler))
	return meta.ImportWith(ctx, dir, db, store, meta.ImportOptions{Progress: progress, Ignored: importIgnores(dir, tree.source).Ignored})
}

// serveWatch starts following dir, streaming the first scan's progress.
func (d *daemon) serveWatch(ctx context.Context, w http.ResponseWriter, dir string) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	err := d.watches.start(ctx, d, dir, func(p meta.ImportProgress) {
		enc.Encode(importLine{ImportProgress: p})
		if flusher != nil {
			flusher.Flush()
		}
	})
	l := importLine{Done: true}
	if err != nil {
		l.Error = err.Error()
	}
	enc.Encode(l)
}

// serveImport runs an import in the daemon, streaming progress lines.
func (d *daemon) serveImport(ctx context.Context, w http.ResponseWriter, dir string) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	err := meta.ImportWith(ctx, dir, d.db, d.store, meta.ImportOptions{
		Progress: func(p meta.ImportProgress) {
			enc.Encode(importLine{ImportProgress: p})
			if flusher != nil {
				flusher.Flush()
			}
		},
		Ignored: importIgnores(dir, d.ignores.source).Ignored,
		// Each batch: devices are told, the kernel shows the new entries.
		Committed: func(vs []meta.FileVersion) {
			d.fsys.Invalidate(vs)
			d.engine.Committed(vs)
		},
	})
	l := importLine{Done: true}
	if err != nil {
		l.Error = err.Error()
	}
	enc.Encode(l)
}
