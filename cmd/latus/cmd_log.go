package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/uberan/latus/meta"
)

type logOptions struct{ deleted bool }

func (o *logOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.deleted, "deleted", false, "list deleted files under DIR (default: the whole folder) instead of one file's versions")
}

func newLogCommand(g *globalOptions) *cobra.Command {
	var o logOptions
	cmd := &cobra.Command{
		Use:   "log PATH | log --deleted [DIR]",
		Short: "List every version of a file, oldest first, or the deleted files",
		Args: func(cmd *cobra.Command, args []string) error {
			if o.deleted {
				return cobra.RangeArgs(0, 1)(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.deleted {
				dir := "."
				if len(args) == 1 {
					dir = args[0]
				}
				return runLogDeleted(cmd.Context(), g, dir, cmd.OutOrStdout())
			}
			return runLog(cmd.Context(), g, args[0], cmd.OutOrStdout())
		},
	}
	cmd.ValidArgsFunction = func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if !o.deleted {
			return nil, cobra.ShellCompDirectiveDefault
		}
		return completeDeleted(g)(c, args, toComplete)
	}
	o.AddFlags(cmd.Flags())
	return cmd
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

// trashedReport is one line of `latus log --deleted`.
type trashedReport struct {
	Path      string    `json:"path"`
	Kind      string    `json:"kind"`
	DeletedAt time.Time `json:"deleted_at"`
	Device    string    `json:"device"`
	Size      int64     `json:"size"`
}

func trashedReports(ts []meta.Trashed) []trashedReport {
	out := make([]trashedReport, len(ts))
	for i, x := range ts {
		out[i] = trashedReport{Path: x.Path, Kind: x.Kind.String(), DeletedAt: x.DeletedAt, Device: x.Device, Size: x.Size}
	}
	return out
}

// deleted lists the trash under dir, in either mode (daemon or offline).
func deleted(ctx context.Context, stateDir, dir string) ([]trashedReport, error) {
	var ts []trashedReport
	err := historyVerb(stateDir, dir,
		func(c *controlClient, p string) error {
			return c.do(ctx, "GET", "/deleted", url.Values{"path": {p}}, &ts)
		},
		func(db *meta.DB, p string) error {
			x, err := db.Deleted(p)
			ts = trashedReports(x)
			return err
		})
	return ts, err
}

func runLogDeleted(ctx context.Context, g *globalOptions, dir string, out io.Writer) error {
	stateDir, err := g.stateDir()
	if err != nil {
		return err
	}
	ts, err := deleted(ctx, stateDir, dir)
	if err != nil {
		return fmt.Errorf("log --deleted %s: %w", dir, err)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DELETED\tDEVICE\tSIZE\tPATH")
	for _, x := range ts {
		p := x.Path
		if x.Kind == meta.KindDir.String() {
			p += "/"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", x.DeletedAt.Local().Format("2006-01-02 15:04:05"), x.Device, x.Size, p)
	}
	if len(ts) == 0 {
		fmt.Fprintln(tw, "(nothing deleted)")
	}
	return tw.Flush()
}

// completeDeleted completes deleted paths (relative to the Latus root) for
// `log --deleted` and `restore`.
func completeDeleted(g *globalOptions) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		stateDir, err := g.stateDir()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		ts, err := deleted(cmd.Context(), stateDir, ".")
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var out []string
		for _, x := range ts {
			out = append(out, x.Path)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
