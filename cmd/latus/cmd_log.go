package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/uberan/latus/meta"
)

func newLogCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "log PATH",
		Short: "List every version of a file, oldest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLog(cmd.Context(), g, args[0], cmd.OutOrStdout())
		},
	}
}

func runLog(ctx context.Context, g *globalOptions, arg string, out io.Writer) error {
	stateDir, err := g.stateDir()
	if err != nil {
		return err
	}
	var vs []versionReport
	err = historyVerb(stateDir, arg,
		func(c *controlClient, p string) error {
			return c.do(ctx, "GET", "/log", url.Values{"path": {p}}, &vs)
		},
		func(db *meta.DB, p string) error {
			h, err := history(db, p)
			vs = versionReports(h)
			return err
		})
	if err != nil {
		return fmt.Errorf("log %s: %w", arg, err)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tTIME\tDEVICE\tCHANGE\tSIZE")
	for _, v := range vs {
		change := v.Change
		if v.From != "" {
			change += " from " + v.From
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\n", v.N, v.Time.Local().Format("2006-01-02 15:04:05"), v.Device, change, v.Size)
	}
	return tw.Flush()
}
