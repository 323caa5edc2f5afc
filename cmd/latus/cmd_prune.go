package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/uberan/latus/chunks"
)

type pruneOptions struct{ dryRun bool }

func (o *pruneOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.dryRun, "dry-run", false, "say what would be pruned and collected; change nothing")
}

func newPruneCommand(g *globalOptions) *cobra.Command {
	var o pruneOptions
	cmd := &cobra.Command{
		Use:   "prune [--dry-run]",
		Short: "Apply the retention policy now: prune old versions, collect unreferenced chunks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPrune(cmd.Context(), g, o, cmd.OutOrStdout())
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// runPrune runs through the daemon when one runs (bbolt allows one
// opener), else on the state dir directly with the configured policy.
func runPrune(ctx context.Context, g *globalOptions, o pruneOptions, out io.Writer) error {
	configFile, stateDir, err := g.paths()
	if err != nil {
		return err
	}
	info, err := runningDaemon(stateDir)
	if err != nil {
		return err
	}
	var r pruneReport
	if info != nil {
		q := url.Values{}
		if o.dryRun {
			q.Set("dry_run", "1")
		}
		err = dialControl(stateDir).do(ctx, "POST", "/prune", q, &r)
	} else {
		r, err = pruneOffline(configFile, stateDir, o.dryRun)
	}
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	if r.DryRun {
		fmt.Fprintf(out, "would prune %d versions, freeing up to %s; %d chunks no version references (%s) would be collected\n",
			r.Versions, humanBytes(r.Bytes), r.Chunks, humanBytes(r.Freed))
		return nil
	}
	fmt.Fprintf(out, "pruned %d versions; collected %d chunks, %s freed\n", r.Versions, r.Chunks, humanBytes(r.Freed))
	return nil
}

func pruneOffline(configFile, stateDir string, dryRun bool) (pruneReport, error) {
	cfg, err := loadConfig(configFile)
	if err != nil {
		return pruneReport{}, err
	}
	policy, err := cfg.Retention.Policy()
	if err != nil {
		return pruneReport{}, err
	}
	db, err := openOffline(stateDir)
	if err != nil {
		return pruneReport{}, err
	}
	defer db.Close()
	opts := chunks.Options{Dir: filepath.Join(stateDir, "chunks"), Mark: markRefs(db)}
	if cfg.XMPP.Enabled() {
		// Offline nobody can prove a hand-off: what this device keeps
		// stays kept (the daemon's collection hands it over).
		opts.KeepUnreplicated = true
		opts.Verify = func([]chunks.ID) []chunks.ID { return nil }
	}
	store, err := chunks.Open(opts)
	if err != nil {
		return pruneReport{}, err
	}
	defer store.Close()
	p := &pruner{db: db, store: store, policy: policy, log: slog.New(slog.DiscardHandler)}
	return p.run(dryRun)
}
