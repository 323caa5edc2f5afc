package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/internal/atomicfile"
	"github.com/uberan/latus/meta"
)

// FetchMode says what Fetch does with the chunks under a path.
type FetchMode int

const (
	Prefetch FetchMode = iota // fetch them now
	Pin                       // pin the path: fetch its files now and as they change, never evict them
	Unpin                     // unpin the path (fetches nothing)
)

// pinSet is the set of pinned paths, persisted in a small JSON file.
type pinSet struct {
	file string // "" = memory only

	mu    sync.Mutex // guards paths and the file
	paths map[string]bool
}

func loadPins(file string) (*pinSet, error) {
	ps := &pinSet{file: file, paths: map[string]bool{}}
	if file == "" {
		return ps, nil
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return ps, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pins: %w", err)
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("read pins %s: %w (fix or delete the file; it lists the pinned paths)", file, err)
	}
	for _, p := range list {
		if p != "" && meta.ValidatePath(p) != nil {
			return nil, fmt.Errorf("read pins %s: bad path %q", file, p)
		}
		ps.paths[p] = true
	}
	return ps, nil
}

func (ps *pinSet) list() []string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	out := make([]string, 0, len(ps.paths))
	for p := range ps.paths {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// edit changes the set and saves it; on a failed save the set is left
// as it was.
func (ps *pinSet) edit(fn func(paths map[string]bool) error) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	next := make(map[string]bool, len(ps.paths)+1)
	for p := range ps.paths {
		next[p] = true
	}
	if err := fn(next); err != nil {
		return err
	}
	if ps.file != "" {
		list := make([]string, 0, len(next))
		for p := range next {
			list = append(list, p)
		}
		slices.Sort(list)
		b, _ := json.Marshal(list)
		if err := atomicfile.Write(ps.file, b, 0o600); err != nil {
			return fmt.Errorf("save pins: %w", err)
		}
	}
	ps.paths = next
	return nil
}

// covering returns the pinned path at or above p, if any.
func (ps *pinSet) covering(p string) (string, bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for q := range ps.paths {
		if under(p, q) {
			return q, true
		}
	}
	return "", false
}

// touches reports whether any version lies at or under a pinned path.
func (ps *pinSet) touches(vs []meta.FileVersion) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if len(ps.paths) == 0 {
		return false
	}
	for _, v := range vs {
		for q := range ps.paths {
			if under(v.Path, q) {
				return true
			}
		}
	}
	return false
}

// under reports whether p is dir or inside it ("" is the root).
func under(p, dir string) bool {
	return dir == "" || p == dir || strings.HasPrefix(p, dir+"/")
}

// Fetch fetches the chunks of every live file at or under p ("" is the
// root), reporting progress in chunks; Pin also pins p (PinPath), Unpin
// unpins it (UnpinPath).
func (e *Engine) Fetch(ctx context.Context, p string, mode FetchMode, progress func(done, total int)) error {
	if progress == nil {
		progress = func(int, int) {}
	}
	switch mode {
	case Pin:
		return e.PinPath(ctx, p, progress)
	case Unpin:
		if _, err := e.UnpinPath(p); err != nil {
			return err
		}
		progress(1, 1)
		return nil
	}
	ids, err := e.Chunks(p)
	if err != nil {
		return err
	}
	progress(0, len(ids))
	return e.fetcher.FetchAll(ctx, ids, progress)
}

// PinPath pins p ("" is the root): every current and future file under it
// is kept on this device. Its files are fetched now, with progress; later
// versions are fetched as they arrive (Merged) and the chunks of versions
// they replace are released.
func (e *Engine) PinPath(ctx context.Context, p string, progress func(done, total int)) error {
	ids, err := e.Chunks(p)
	if err != nil {
		return err
	}
	if err := e.pins.edit(func(paths map[string]bool) error { paths[p] = true; return nil }); err != nil {
		return err
	}
	if err := e.reconcilePins(); err != nil {
		return err
	}
	if progress == nil {
		progress = func(int, int) {}
	}
	progress(0, len(ids))
	return e.fetcher.FetchAll(ctx, ids, progress)
}

// UnpinPath unpins p and every pinned path inside it, and returns them.
// Chunks that another pinned path still needs stay pinned. ErrPinnedAbove
// when only a folder above p is pinned; ErrNotPinned when nothing is.
func (e *Engine) UnpinPath(p string) ([]string, error) {
	var removed []string
	err := e.pins.edit(func(paths map[string]bool) error {
		for q := range paths {
			if under(q, p) {
				removed = append(removed, q)
				delete(paths, q)
			}
		}
		if len(removed) > 0 {
			return nil
		}
		for q := range paths {
			if under(p, q) {
				return fmt.Errorf("%q is kept because %q is pinned; unpin that: %w", p, displayPath(q), ErrPinnedAbove)
			}
		}
		return fmt.Errorf("%q: %w", displayPath(p), ErrNotPinned)
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(removed)
	return removed, e.reconcilePins()
}

func displayPath(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// PinnedPaths lists the pinned paths, sorted.
func (e *Engine) PinnedPaths() []string { return e.pins.list() }

// PinnedBy returns the pinned path that keeps p (p itself or a folder
// above it), if any.
func (e *Engine) PinnedBy(p string) (string, bool) { return e.pins.covering(p) }

// PinStatus says how much of a pinned path is on this device.
type PinStatus struct {
	Path       string
	Files      int
	Bytes      int64 // plain bytes of its files' chunks
	LocalBytes int64 // of which stored here
}

// PinReport lists every pinned path with how much of it is local. A pinned
// path that does not exist (deleted, or not created yet) has no files.
func (e *Engine) PinReport() ([]PinStatus, error) {
	var out []PinStatus
	for _, p := range e.pins.list() {
		ps := PinStatus{Path: p}
		err := e.walk(p, func(v meta.FileVersion) {
			ps.Files++
			for _, r := range v.Chunks {
				ps.Bytes += r.Size
				if st, err := e.store.Status(r.ID); err == nil && st == chunks.Complete {
					ps.LocalBytes += r.Size
				}
			}
		})
		if err != nil && !errors.Is(err, meta.ErrNotFound) {
			return nil, err
		}
		out = append(out, ps)
	}
	return out, nil
}

// SetPinned pins (on) or unpins one file's path: the user.latus.pinned
// attribute. Unpinning a file that is not pinned on its own is no error
// (ErrPinnedAbove is: the attribute cannot be cleared under a pinned folder).
func (e *Engine) SetPinned(v meta.FileVersion, on bool) error {
	if on {
		if err := e.pins.edit(func(paths map[string]bool) error { paths[v.Path] = true; return nil }); err != nil {
			return err
		}
		e.kickPins()
		return e.reconcilePins()
	}
	_, err := e.UnpinPath(v.Path)
	if errors.Is(err, ErrNotPinned) {
		return nil
	}
	return err
}

// reconcilePins derives every chunk's pin from the pinned paths: a chunk
// is pinned exactly when a live file under a pinned path uses it. Chunks
// are pinned once (never stacked) and unpinned to zero, so overlapping
// pinned paths need no counting. Returns once the store agrees.
func (e *Engine) reconcilePins() error {
	e.pinMu.Lock()
	defer e.pinMu.Unlock()
	_, err := e.reconcilePinsLocked()
	return err
}

func (e *Engine) reconcilePinsLocked() (map[chunks.ID]bool, error) {
	defer e.changed()
	need := map[chunks.ID]bool{}
	for _, p := range e.pins.list() {
		err := e.walk(p, func(v meta.FileVersion) {
			for _, r := range v.Chunks {
				need[r.ID] = true
			}
		})
		if err != nil && !errors.Is(err, meta.ErrNotFound) {
			return nil, err // a pinned path that is gone pins nothing until it is back
		}
	}
	for id := range need {
		n, err := e.store.Pins(id)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			if err := e.store.Pin(id); err != nil {
				return nil, err
			}
		}
	}
	pinned, err := e.store.Pinned()
	if err != nil {
		return nil, err
	}
	for _, id := range pinned {
		if need[id] {
			continue
		}
		n, err := e.store.Pins(id)
		for ; n > 0 && err == nil; n-- {
			err = e.store.Unpin(id)
		}
		if err != nil {
			return nil, err
		}
	}
	return need, nil
}

// kickPins asks pinLoop to re-derive pins and fetch what pinned paths miss.
func (e *Engine) kickPins() {
	select {
	case e.pinCh <- struct{}{}:
	default:
	}
}

// pinLoop keeps pinned paths local: after commits and merges under them,
// and when a device comes online (a fetch that failed may work now).
func (e *Engine) pinLoop() {
	defer e.wg.Done()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-e.pinCh:
		}
		e.pinMu.Lock()
		need, err := e.reconcilePinsLocked()
		e.pinMu.Unlock()
		if err != nil {
			e.log.Warn("pins", "err", err)
			continue
		}
		var missing []chunks.ID
		for id := range need {
			if st, err := e.store.Status(id); err == nil && st != chunks.Complete {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			continue
		}
		if err := e.fetcher.FetchAll(e.ctx, missing, nil); err != nil && e.ctx.Err() == nil {
			e.log.Warn("fetch pinned files", "chunks", len(missing), "err", err)
		}
	}
}

// Chunks lists the chunks of every live file at or under p ("" is the
// root).
func (e *Engine) Chunks(p string) ([]chunks.ID, error) {
	var ids []chunks.ID
	err := e.walk(p, func(v meta.FileVersion) {
		for _, r := range v.Chunks {
			ids = append(ids, r.ID)
		}
	})
	return ids, err
}

// walk calls fn for every live file at or under p.
func (e *Engine) walk(p string, fn func(meta.FileVersion)) error {
	if p != "" {
		v, err := e.meta.Lookup(p)
		if err != nil {
			return err
		}
		if v.Kind != meta.KindDir {
			if v.Kind == meta.KindFile {
				fn(v)
			}
			return nil
		}
	}
	var walk func(dir string) error
	walk = func(dir string) error {
		vs, err := e.meta.List(dir)
		if err != nil {
			return err
		}
		for _, v := range vs {
			switch v.Kind {
			case meta.KindDir:
				if err := walk(v.Path); err != nil {
					return err
				}
			case meta.KindFile:
				fn(v)
			}
		}
		return nil
	}
	return walk(p)
}

// Restore makes version n (counting from 1) of p's history current again,
// as a local write: its chunks are fetched and taken into this device's
// custody first, so the restored file never depends on a device that
// keeps the old content only for its own history and may collect it
// after pruning that history. It fails, committing nothing, when the
// content cannot be fetched.
func (e *Engine) Restore(ctx context.Context, p string, n int) (meta.FileVersion, error) {
	hist, err := e.meta.History(p)
	if err != nil {
		return meta.FileVersion{}, err
	}
	if n < 1 || n > len(hist) {
		return meta.FileVersion{}, fmt.Errorf("restore %q version %d of %d: %w", p, n, len(hist), meta.ErrNotFound)
	}
	ids := make([]chunks.ID, 0, len(hist[n-1].Chunks))
	for _, r := range hist[n-1].Chunks {
		ids = append(ids, r.ID)
	}
	if err := e.fetcher.FetchAll(ctx, ids, nil); err != nil {
		return meta.FileVersion{}, fmt.Errorf("restore %q version %d: fetch its content: %w", p, n, err)
	}
	for _, id := range ids {
		// ErrReleasing: a hand-off of it is under way and keeps it kept.
		if err := e.store.Keep(id, "", false); err != nil && !errors.Is(err, chunks.ErrReleasing) {
			return meta.FileVersion{}, fmt.Errorf("restore %q version %d: keep its content: %w", p, n, err)
		}
	}
	v, err := e.meta.Restore(p, n)
	if err != nil {
		return v, err
	}
	e.Committed([]meta.FileVersion{v})
	return v, nil
}
