package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

// FetchMode says what Fetch does with the chunks under a path.
type FetchMode int

const (
	Prefetch FetchMode = iota // fetch them now
	Pin                       // fetch them and never evict them
	Unpin                     // let them be evicted again (fetches nothing)
)

// Fetch fetches (Prefetch, Pin) or unpins the chunks of every live file at
// or under p ("" is the root), reporting progress in chunks.
func (e *Engine) Fetch(ctx context.Context, p string, mode FetchMode, progress func(done, total int)) error {
	ids, err := e.Chunks(p)
	if err != nil {
		return err
	}
	if progress == nil {
		progress = func(int, int) {}
	}
	progress(0, len(ids))
	if mode != Prefetch {
		if err := e.setPinned(ids, mode == Pin); err != nil {
			return err
		}
	}
	if mode == Unpin {
		progress(len(ids), len(ids))
		return nil
	}
	return e.fetcher.FetchAll(ctx, ids, progress)
}

// SetPinned pins (on) or unpins one version's chunks, without fetching:
// the user.latus.pinned attribute.
func (e *Engine) SetPinned(v meta.FileVersion, on bool) error {
	ids := make([]chunks.ID, len(v.Chunks))
	for i, r := range v.Chunks {
		ids[i] = r.ID
	}
	return e.setPinned(ids, on)
}

// setPinned sets every chunk's pin to one (on) or zero, so repeated pins
// of overlapping folders do not stack.
func (e *Engine) setPinned(ids []chunks.ID, on bool) error {
	for _, id := range ids {
		n, err := e.store.Pins(id)
		if err != nil {
			return err
		}
		switch {
		case on && n == 0:
			err = e.store.Pin(id)
		case !on:
			for ; n > 0 && err == nil; n-- {
				err = e.store.Unpin(id)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
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
