package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/uberan/latus/meta"
)

type restoreOptions struct{ version int }

func (o *restoreOptions) AddFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.version, "version", 0, "version number, as `latus log` lists it")
}

func newRestoreCommand(g *globalOptions) *cobra.Command {
	var o restoreOptions
	cmd := &cobra.Command{
		Use:   "restore PATH --version N",
		Short: "Make an old version of a file the current one (as a new version)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.version < 1 {
				return usageError{fmt.Errorf("restore needs --version N (N from \"latus log %s\")", args[0])}
			}
			return runRestore(cmd.Context(), g, o, args[0], cmd.OutOrStdout())
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runRestore(ctx context.Context, g *globalOptions, o restoreOptions, arg string, out io.Writer) error {
	stateDir, err := g.stateDir()
	if err != nil {
		return err
	}
	var v versionReport
	err = historyVerb(stateDir, arg,
		func(c *controlClient, p string) error {
			q := url.Values{"path": {p}, "version": {strconv.Itoa(o.version)}}
			return c.do(ctx, "POST", "/restore", q, &v)
		},
		func(db *meta.DB, p string) error {
			fv, err := db.Restore(p, o.version)
			v = versionReports([]meta.FileVersion{fv})[0]
			return err
		})
	if err != nil {
		return fmt.Errorf("restore %s: %w", arg, err)
	}
	fmt.Fprintf(out, "restored %s to version %d (%d bytes) as a new version\n", arg, o.version, v.Size)
	return nil
}
