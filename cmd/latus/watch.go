package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/uberan/latus/internal/atomicfile"
	"github.com/uberan/latus/meta"
)

// A followed folder (`latus import --watch DIR`): imported once, then kept
// in step by fsnotify events (coalesced for watchQuiet) and a rescan every
// watchRescan, which catches what events miss (a full event queue, a
// folder created and filled before its watch was added). Each scan is an
// import whose unchanged files cost a stat; a path seen in an earlier scan
// and gone now is deleted in Latus. Only paths this follower saw are ever
// deleted: files made in the mount are the user's.
const (
	watchQuiet    = 200 * time.Millisecond
	watchMaxDelay = 2 * time.Second // a scan at least this often while events keep coming
	watchRescan   = 10 * time.Minute
)

// watchReport is one followed folder in /status.
type watchReport struct {
	Dir      string              `json:"dir"`
	State    string              `json:"state"` // scanning, watching
	Scans    int64               `json:"scans"`
	Progress meta.ImportProgress `json:"progress"` // of the current or last scan
	LastScan time.Time           `json:"last_scan,omitzero"`
	Deleted  int64               `json:"deleted"` // paths deleted in Latus because they left the folder
	Error    string              `json:"error,omitempty"`
}

// watcher follows one folder into the tree; the daemon owns it.
type watcher struct {
	dir    string
	d      *daemon
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex // guards rep and seen
	rep  watchReport
	seen map[string]bool // paths found by the last scan
}

// watchers are the daemon's followed folders, by absolute path. The list
// persists in file, so a restarted daemon follows them again.
type watchers struct {
	file string // <state>/watches.json

	mu sync.Mutex // guards m and file
	m  map[string]*watcher
}

const watchesName = "watches.json"

// saved lists the followed folders recorded in the file.
func (ws *watchers) saved() ([]string, error) {
	b, err := os.ReadFile(ws.file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var dirs []string
	if err := json.Unmarshal(b, &dirs); err != nil {
		return nil, fmt.Errorf("%s: %w (it lists the folders latus import --watch follows; fix or delete it)", ws.file, err)
	}
	return dirs, nil
}

// save records the followed folders; ws.mu is held.
func (ws *watchers) saveLocked() error {
	dirs := make([]string, 0, len(ws.m))
	for d := range ws.m {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	b, _ := json.Marshal(dirs)
	return atomicfile.Write(ws.file, b, 0o600)
}

// resume follows again the folders a previous daemon followed, in the
// background; a folder that is gone is dropped with a log line.
func (ws *watchers) resume(d *daemon) {
	dirs, err := ws.saved()
	if err != nil {
		d.log.Warn("followed folders not resumed", "err", err)
		return
	}
	for _, dir := range dirs {
		d.jobs.Go(func() {
			if err := ws.start(d.jobCtx, d, dir, nil); err != nil && d.jobCtx.Err() == nil {
				d.log.Warn("stopped following", "dir", dir, "err", err)
			}
		})
	}
}

// start follows dir: the first scan runs before start returns (progress
// reported), the rest in the background until stop or ctx ends.
func (ws *watchers) start(ctx context.Context, d *daemon, dir string, progress func(meta.ImportProgress)) error {
	if dir == d.mountpoint || strings.HasPrefix(dir, d.mountpoint+"/") || strings.HasPrefix(d.mountpoint, dir+"/") {
		return fmt.Errorf("%s and the mount %s overlap: follow a folder outside the mount", dir, d.mountpoint)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	ws.mu.Lock()
	if ws.m == nil {
		ws.m = map[string]*watcher{}
	}
	if _, ok := ws.m[dir]; ok {
		ws.mu.Unlock()
		return fmt.Errorf("%s is already followed; \"latus import --stop %s\" ends it", dir, dir)
	}
	wctx, cancel := context.WithCancel(d.jobCtx)
	w := &watcher{dir: dir, d: d, log: d.log.With("watch", dir), cancel: cancel, done: make(chan struct{}), rep: watchReport{Dir: dir, State: "scanning"}}
	ws.m[dir] = w
	ws.mu.Unlock()

	fw, err := fsnotify.NewWatcher()
	if err == nil {
		err = w.scan(ctx, fw, progress)
	}
	if err != nil {
		if fw != nil {
			fw.Close()
		}
		cancel()
		ws.mu.Lock()
		delete(ws.m, dir)
		if ctx.Err() == nil { // not a daemon stopping: forget the folder
			ws.saveLocked()
		}
		ws.mu.Unlock()
		return err
	}
	ws.mu.Lock()
	if err := ws.saveLocked(); err != nil {
		w.log.Warn("followed folders not saved: not resumed after a restart", "err", err)
	}
	ws.mu.Unlock()
	d.jobs.Go(func() {
		defer close(w.done)
		defer fw.Close()
		w.follow(wctx, fw)
	})
	return nil
}

// stop ends following dir and waits until it has.
func (ws *watchers) stop(dir string) error {
	ws.mu.Lock()
	w := ws.m[dir]
	delete(ws.m, dir)
	var serr error
	if w != nil {
		serr = ws.saveLocked()
	}
	ws.mu.Unlock()
	if serr != nil {
		return fmt.Errorf("stopped, but the list of followed folders was not saved (%w): it is followed again after a restart", serr)
	}
	if w == nil {
		return fmt.Errorf("%s is not followed (\"latus status\" lists the followed folders): %w", dir, meta.ErrNotFound)
	}
	w.cancel()
	<-w.done
	return nil
}

func (ws *watchers) reports() []watchReport {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	var out []watchReport
	for _, w := range ws.m {
		w.mu.Lock()
		out = append(out, w.rep)
		w.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b watchReport) int {
		if a.Dir < b.Dir {
			return -1
		}
		if a.Dir > b.Dir {
			return 1
		}
		return 0
	})
	return out
}

// follow runs scans on events and on the rescan timer until ctx ends.
func (w *watcher) follow(ctx context.Context, fw *fsnotify.Watcher) {
	rescan := time.NewTicker(watchRescan)
	defer rescan.Stop()
	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	var pending time.Time // first event not scanned yet
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-fw.Events:
			if !ok {
				return
			}
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
					w.addWatches(fw, ev.Name) // before its files are scanned
				}
			}
			if pending.IsZero() {
				pending = time.Now()
			}
			// Wait for a quiet moment, but not forever: a long copy into
			// the folder shows up as it goes.
			if time.Since(pending) < watchMaxDelay {
				quiet.Reset(watchQuiet)
				continue
			}
			quiet.Stop()
		case err, ok := <-fw.Errors:
			if !ok {
				return
			}
			w.log.Warn("watch events", "err", err) // the next rescan catches up
			continue
		case <-quiet.C:
		case <-rescan.C:
		}
		pending = time.Time{}
		if err := w.scan(ctx, fw, nil); err != nil && ctx.Err() == nil {
			w.log.Warn("scan", "err", err)
		}
	}
}

// scan imports the folder (watching every directory first, so nothing
// created during the scan is missed) and deletes what left it.
func (w *watcher) scan(ctx context.Context, fw *fsnotify.Watcher, progress func(meta.ImportProgress)) error {
	w.set(func(r *watchReport) { r.State = "scanning"; r.Progress = meta.ImportProgress{} })
	w.addWatches(fw, w.dir)
	seen := map[string]bool{}
	d := w.d
	err := meta.ImportWith(ctx, w.dir, d.db, d.store, meta.ImportOptions{
		Progress: func(p meta.ImportProgress) {
			seen[p.Path] = true
			w.set(func(r *watchReport) { r.Progress = p })
			if progress != nil {
				progress(p)
			}
		},
		Ignored: importIgnores(w.dir, d.ignores.source).Ignored,
		Committed: func(vs []meta.FileVersion) {
			d.fsys.Invalidate(vs)
			d.engine.Committed(vs)
		},
	})
	if err == nil {
		err = w.deleteGone(seen)
	}
	w.set(func(r *watchReport) {
		r.State, r.Scans, r.LastScan, r.Error = "watching", r.Scans+1, time.Now(), ""
		if err != nil {
			r.Error = err.Error()
		}
	})
	return err
}

// deleteGone deletes in Latus the paths an earlier scan found that this
// one did not, deepest first, in batches.
func (w *watcher) deleteGone(seen map[string]bool) error {
	w.mu.Lock()
	prev := w.seen
	w.seen = seen
	w.mu.Unlock()
	var gone []string
	for p := range prev {
		if !seen[p] {
			if _, err := os.Lstat(filepath.Join(w.dir, filepath.FromSlash(p))); errors.Is(err, fs.ErrNotExist) {
				gone = append(gone, p)
			}
		}
	}
	slices.Sort(gone)
	slices.Reverse(gone) // children before their directory
	for len(gone) > 0 {
		n := min(len(gone), meta.ImportBatch)
		var changes []meta.Change
		for _, p := range gone[:n] {
			if _, err := w.d.db.Lookup(p); err == nil {
				changes = append(changes, meta.Change{Kind: meta.Deleted, Path: p})
			}
		}
		gone = gone[n:]
		if len(changes) == 0 {
			continue
		}
		vs, err := w.d.db.Commit(changes)
		if err != nil {
			// One of them cannot go (a folder still holding files made in
			// the mount): delete the others one by one.
			vs = nil
			for _, c := range changes {
				v, err := w.d.db.Commit([]meta.Change{c})
				if err != nil {
					w.log.Info("left in place", "path", c.Path, "err", err)
					continue
				}
				vs = append(vs, v...)
			}
		}
		w.d.fsys.Invalidate(vs)
		w.d.engine.Committed(vs)
		w.set(func(r *watchReport) { r.Deleted += int64(len(vs)) })
	}
	return nil
}

// addWatches watches dir and every directory under it (fsnotify is not
// recursive). Adding one already watched is harmless.
func (w *watcher) addWatches(fw *fsnotify.Watcher, dir string) {
	filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil || !de.IsDir() {
			return nil
		}
		if err := fw.Add(p); err != nil {
			w.log.Warn("watch", "dir", p, "err", err) // e.g. out of inotify watches; rescans still run
		}
		return nil
	})
}

func (w *watcher) set(fn func(*watchReport)) {
	w.mu.Lock()
	fn(&w.rep)
	w.mu.Unlock()
}
