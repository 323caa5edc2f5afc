package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/uberan/latus/meta"
)

type restoreOptions struct {
	version int
	at      string
}

func (o *restoreOptions) AddFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.version, "version", 0, "version number, as `latus log` lists it")
	fs.StringVar(&o.at, "at", "", "bring a deleted file or folder back as it was at this moment (RFC 3339, or a date: the end of that day)")
}

func newRestoreCommand(g *globalOptions) *cobra.Command {
	var o restoreOptions
	cmd := &cobra.Command{
		Use:   "restore PATH [--version N | --at TIME]",
		Short: "Make an old version of a file the current one, or bring back a deleted file or folder",
		Long: `With --version N, the file's version N (as "latus log PATH" lists them)
becomes its current content, as a new version.

Without --version, PATH must be deleted ("latus log --deleted" lists them):
a file comes back as its last version; a folder comes back with the files
it held when it was deleted. --at TIME brings it back as it was at another
moment; on a folder that exists, --at brings back the files deleted inside
it since then. Files that exist now are never overwritten.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeDeleted(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.version != 0 && o.at != "" {
				return usageError{fmt.Errorf("restore takes --version or --at, not both")}
			}
			if o.version < 0 {
				return usageError{fmt.Errorf("--version counts from 1 (see \"latus log %s\")", args[0])}
			}
			if o.version == 0 {
				var at time.Time
				if o.at != "" {
					var err error
					if at, err = parseMoment(o.at, time.Local); err != nil {
						return usageError{err}
					}
				}
				return runRestoreDeleted(cmd.Context(), g, at, args[0], cmd.OutOrStdout())
			}
			return runRestore(cmd.Context(), g, o, args[0], cmd.OutOrStdout())
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// parseMoment reads RFC 3339, "2006-01-02T15:04" or a date (meaning the
// end of that day) in loc.
func parseMoment(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
		return t.AddDate(0, 0, 1).Add(-time.Nanosecond), nil
	}
	return time.Time{}, fmt.Errorf("--at %q: give a time as 2026-03-01T14:30:00+01:00 (RFC 3339), 2026-03-01T14:30, or a date 2026-03-01", s)
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

func runRestoreDeleted(ctx context.Context, g *globalOptions, at time.Time, arg string, out io.Writer) error {
	stateDir, err := g.stateDir()
	if err != nil {
		return err
	}
	var vs []versionReport
	err = historyVerb(stateDir, arg,
		func(c *controlClient, p string) error {
			q := url.Values{"path": {p}}
			if !at.IsZero() {
				q.Set("at", at.Format(time.RFC3339Nano))
			}
			return c.do(ctx, "POST", "/restore-deleted", q, &vs)
		},
		func(db *meta.DB, p string) error {
			fvs, err := db.RestoreDeleted(p, at)
			vs = versionReports(fvs)
			return err
		})
	if err != nil {
		return fmt.Errorf("restore %s: %w", arg, err)
	}
	var files int
	var bytes int64
	for _, v := range vs {
		if v.Kind != meta.KindDir.String() {
			files++
			bytes += v.Size
		}
	}
	fmt.Fprintf(out, "brought back %s: %d files (%d bytes), %d entries in all\n", arg, files, bytes, len(vs))
	return nil
}
