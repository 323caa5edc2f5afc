package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/uberan/latus/engine"
	"github.com/uberan/latus/meta"
)

// pathReport is what /stat returns: `latus status PATH`.
type pathReport struct {
	Path     string `json:"path"`
	Kind     string `json:"kind"`
	State    string `json:"state,omitempty"` // a file: local, partial or remote
	Size     int64  `json:"size"`
	PinnedBy string `json:"pinned_by,omitempty"`
	Pinned   bool   `json:"pinned"`
	Copies   int    `json:"copies"`   // devices holding every chunk (a folder: the fewest of its files)
	Versions int    `json:"versions"` // versions kept of this path (a folder: of its files too)
	// The newest change at or under the path.
	Changed     time.Time `json:"changed"`
	ChangedBy   string    `json:"changed_by"`
	ChangedPath string    `json:"changed_path"`
	// A folder: its files by state.
	Files   int `json:"files"`
	Ignored int `json:"ignored"`
	Local   int `json:"local"`
	Partial int `json:"partial"`
	Remote  int `json:"remote"`
}

// pathStatus reports one file or folder.
func (d *daemon) pathStatus(p string) (pathReport, error) {
	v, err := d.db.Lookup(p)
	if errors.Is(err, meta.ErrNotFound) {
		if fi, lerr := os.Lstat(filepath.Join(d.stateDir, localDirName, filepath.FromSlash(p))); lerr == nil {
			kind := meta.KindFile
			if fi.IsDir() {
				kind = meta.KindDir
			}
			return pathReport{Path: p, Kind: kind.String(), State: "ignored", Size: fi.Size(), Changed: fi.ModTime(), ChangedBy: d.id.Device, ChangedPath: p,
				Ignored: countLocal(d.stateDir, p)}, nil
		}
	}
	if err != nil {
		return pathReport{}, err
	}
	r := pathReport{Path: p, Kind: v.Kind.String(), Copies: -1}
	r.PinnedBy, r.Pinned = d.engine.PinnedBy(p)
	note := func(v meta.FileVersion) error {
		if v.MTime.After(r.Changed) {
			r.Changed, r.ChangedBy, r.ChangedPath = v.MTime, v.Origin, v.Path
		}
		if v.Path != "" {
			h, err := d.db.History(v.Path)
			if err != nil && !errors.Is(err, meta.ErrNotFound) {
				return err
			}
			r.Versions += len(h)
		}
		return nil
	}
	if p != "" {
		if err := note(v); err != nil {
			return r, err
		}
	}
	var werr error
	err = d.engine.Walk(p, func(f meta.FileVersion) {
		if werr != nil {
			return
		}
		if f.Path != p {
			if werr = note(f); werr != nil {
				return
			}
		}
		res, err := d.engine.Residency(f)
		if err != nil {
			werr = err
			return
		}
		r.Files++
		r.Size += f.Size
		switch res {
		case engine.Local:
			r.Local++
		case engine.Partial:
			r.Partial++
		default:
			r.Remote++
		}
		if c := d.engine.Copies(f); r.Copies < 0 || c < r.Copies {
			r.Copies = c
		}
		if f.Path == p {
			r.State = res.String()
		}
	})
	if werr != nil {
		err = werr
	}
	if r.Copies < 0 {
		r.Copies = 0
	}
	if v.Kind == meta.KindDir {
		r.Ignored = countLocal(d.stateDir, p)
	}
	return r, err
}

func printPathReport(out io.Writer, r pathReport) {
	name := r.Path
	if name == "" {
		name = "/"
	}
	fmt.Fprintf(out, "path:         %s (%s)\n", name, r.Kind)
	if r.State == "ignored" {
		fmt.Fprintf(out, "state:        ignored (.latusignore): kept on this device only, never versioned or sent\n")
		return
	}
	if r.State != "" {
		fmt.Fprintf(out, "state:        %s\n", r.State)
	} else {
		fmt.Fprintf(out, "files:        %d (%s): %d local, %d partial, %d remote, %d ignored\n", r.Files, humanBytes(r.Size), r.Local, r.Partial, r.Remote, r.Ignored)
	}
	switch {
	case !r.Pinned:
		fmt.Fprintf(out, "pinned:       no\n")
	case r.PinnedBy == r.Path:
		fmt.Fprintf(out, "pinned:       yes\n")
	default:
		fmt.Fprintf(out, "pinned:       yes, by %s\n", displayStorePath(r.PinnedBy))
	}
	fmt.Fprintf(out, "copies:       %d devices known to hold all of it\n", r.Copies)
	fmt.Fprintf(out, "versions:     %d kept\n", r.Versions)
	if !r.Changed.IsZero() {
		what := ""
		if r.ChangedPath != r.Path {
			what = " (" + r.ChangedPath + ")"
		}
		fmt.Fprintf(out, "last change:  %s by device %s%s\n", r.Changed.Local().Format("2006-01-02 15:04:05"), r.ChangedBy, what)
	}
}

func displayStorePath(p string) string {
	if p == "" {
		return "/ (everything)"
	}
	return p
}
