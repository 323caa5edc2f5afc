package meta

import (
	"fmt"
	"time"
)

// Commit records local changes in one transaction and returns the versions
// it made, in order. Each version gets Origin = this device, the next local
// sequence number, and the previous version's vector advanced to it.
//
//   - Created: Path must not be live; its parent must be a live directory.
//   - Modified: Path must be live; a directory with live children cannot
//     become something else (ErrNotEmpty).
//   - Deleted: Path must be live; a directory must have no live children
//     (ErrNotEmpty). A tombstone keeps the kind and mode it deleted.
//   - Renamed: From must be live; Path gets From's content (and, for a
//     directory, every live descendant moves along), From and its
//     descendants get tombstones. An existing Path is replaced as rename(2)
//     does: a non-directory by a non-directory, an empty directory by a
//     directory.
//
// Changes apply in order, each seeing the ones before it. Any error leaves
// the store unchanged.
//
// Commit returns before the versions are durable (group commit, batch.go):
// they are journaled, visible to every read here at once, and reach peers
// once durable; Sync waits for that.
func (db *DB) Commit(changes []Change) ([]FileVersion, error) {
	if db.closed.Load() {
		return nil, fmt.Errorf("commit: %w", ErrClosed)
	}
	var out []FileVersion
	db.mu.Lock()
	defer db.mu.Unlock()
	_, err := db.commitLocal(func(t *txn) error {
		out = make([]FileVersion, 0, len(changes))
		for i, c := range changes {
			vs, err := t.apply(c)
			if err != nil {
				return fmt.Errorf("change %d (%s %q): %w", i, c.Kind, c.Path, err)
			}
			out = append(out, vs...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return out, nil
}

// Restore commits the content of History(path)[n-1] (n counts from 1) as a
// new Modified version with the current time as its mtime. Restoring over
// a deleted path re-creates it; its parent must be a live directory.
func (db *DB) Restore(p string, n int) (FileVersion, error) {
	if err := ValidatePath(p); err != nil {
		return FileVersion{}, fmt.Errorf("restore: %w", err)
	}
	var out FileVersion
	err := db.update(func(t *txn) error {
		hist, err := t.history(p)
		if err != nil {
			return err
		}
		if n < 1 || n > len(hist) {
			return fmt.Errorf("version %d of %d: %w", n, len(hist), ErrNotFound)
		}
		old := hist[n-1]
		if old.Deleted {
			return fmt.Errorf("version %d is a deletion: %w", n, ErrNotFound)
		}
		if err := t.checkDir(parent(p)); err != nil {
			return err
		}
		cur, ok, err := t.live(p)
		if err != nil {
			return err
		}
		if ok {
			if err := t.checkReplace(cur, old.Kind); err != nil {
				return err
			}
		}
		old.MTime = normTime(t.db.now())
		out, err = t.newLocal(p, old, Modified, "")
		return err
	})
	if err != nil {
		return FileVersion{}, fmt.Errorf("restore %q version %d: %w", p, n, err)
	}
	return out, nil
}

// apply checks and applies one local change.
func (t *txn) apply(c Change) ([]FileVersion, error) {
	if c.Kind >= numChangeKinds {
		return nil, fmt.Errorf("%w: change kind %d", ErrInvalidVersion, c.Kind)
	}
	if err := ValidatePath(c.Path); err != nil {
		return nil, err
	}
	mtime := c.File.MTime
	if mtime.IsZero() {
		mtime = t.db.now()
	}
	mtime = normTime(mtime)
	switch c.Kind {
	case Deleted:
		return t.applyDelete(c.Path, mtime)
	case Renamed:
		return t.applyRename(c.From, c.Path)
	}

	f := c.File
	f.MTime = mtime
	switch f.Kind {
	case KindDir:
		f.Size = 0
	case KindSymlink:
		f.Size = int64(len(f.Target))
	}
	f.Deleted = false
	if err := checkContent(&f); err != nil {
		return nil, err
	}
	if c.Fold && c.Kind == Modified {
		if v, ok, err := t.fold(c.Path, f); err != nil || ok {
			return []FileVersion{v}, err
		}
	}
	if err := t.checkDir(parent(c.Path)); err != nil {
		return nil, fmt.Errorf("parent: %w", err)
	}
	cur, ok, err := t.live(c.Path)
	if err != nil {
		return nil, err
	}
	switch {
	case c.Kind == Created && ok:
		return nil, ErrExists
	case c.Kind == Modified && !ok:
		return nil, ErrNotFound
	case ok:
		if err := t.checkReplace(cur, f.Kind); err != nil {
			return nil, err
		}
	}
	v, err := t.newLocal(c.Path, f, c.Kind, "")
	if err != nil {
		return nil, err
	}
	return []FileVersion{v}, nil
}

// checkReplace refuses to turn a directory with live children into
// something else.
func (t *txn) checkReplace(cur FileVersion, kind Kind) error {
	if cur.Kind != KindDir || kind == KindDir {
		return nil
	}
	busy, err := t.hasLiveChildren(cur.Path)
	if err != nil {
		return err
	}
	if busy {
		return ErrNotEmpty
	}
	return nil
}

func (t *txn) applyDelete(p string, mtime time.Time) ([]FileVersion, error) {
	cur, ok, err := t.live(p)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotFound
	}
	if cur.Kind == KindDir {
		busy, err := t.hasLiveChildren(p)
		if err != nil {
			return nil, err
		}
		if busy {
			return nil, ErrNotEmpty
		}
	}
	v, err := t.newLocal(p, tombstone(cur, mtime), Deleted, "")
	if err != nil {
		return nil, err
	}
	return []FileVersion{v}, nil
}

// tombstone returns the content of a deletion of cur.
func tombstone(cur FileVersion, mtime time.Time) FileVersion {
	return FileVersion{Kind: cur.Kind, Mode: cur.Mode, MTime: mtime, Deleted: true}
}

func (t *txn) applyRename(from, to string) ([]FileVersion, error) {
	if err := ValidatePath(from); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	if from == to {
		return nil, nil
	}
	src, ok, err := t.live(from)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("from %q: %w", from, ErrNotFound)
	}
	if src.Kind == KindDir && within(to, from) {
		return nil, fmt.Errorf("%w: cannot move %q inside itself", ErrInvalidPath, from)
	}
	if err := t.checkDir(parent(to)); err != nil {
		return nil, fmt.Errorf("parent: %w", err)
	}
	dst, ok, err := t.live(to)
	if err != nil {
		return nil, err
	}
	if ok {
		switch {
		case src.Kind == KindDir && dst.Kind != KindDir:
			return nil, ErrNotDir
		case src.Kind != KindDir && dst.Kind == KindDir:
			return nil, ErrExists
		case dst.Kind == KindDir:
			busy, err := t.hasLiveChildren(to)
			if err != nil {
				return nil, err
			}
			if busy {
				return nil, ErrNotEmpty
			}
		}
	}

	moving := []FileVersion{src}
	if src.Kind == KindDir {
		err := t.descendants(from, func(v FileVersion) error {
			if !v.Deleted {
				moving = append(moving, v)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	now := normTime(t.db.now())
	var out []FileVersion
	// New paths first, parents before children, then tombstones children
	// first, so that every prefix of the index is a consistent tree.
	for _, v := range moving {
		np := to + v.Path[len(from):]
		if err := ValidatePath(np); err != nil {
			return nil, err
		}
		nv, err := t.newLocal(np, v, Renamed, v.Path)
		if err != nil {
			return nil, err
		}
		out = append(out, nv)
	}
	for i := len(moving) - 1; i >= 0; i-- {
		v := moving[i]
		tv, err := t.newLocal(v.Path, tombstone(v, now), Deleted, "")
		if err != nil {
			return nil, err
		}
		out = append(out, tv)
	}
	return out, nil
}

// newLocal makes a new local version of p with the content of f.
func (t *txn) newLocal(p string, f FileVersion, change ChangeKind, from string) (FileVersion, error) {
	prev, hadPrev, err := t.current(p)
	if err != nil {
		return FileVersion{}, err
	}
	seq := t.nextSeq()
	v := FileVersion{
		Path:    p,
		Kind:    f.Kind,
		Mode:    f.Mode,
		Size:    f.Size,
		MTime:   normTime(f.MTime),
		Chunks:  f.Chunks,
		Hash:    f.Hash,
		Inline:  f.Inline,
		Target:  f.Target,
		Deleted: f.Deleted,
		Change:  change,
		From:    from,
		Origin:  t.db.device,
		Seq:     seq,
		Vector:  prev.Vector.Update(t.db.device, seq),
	}
	enc := v.encode()
	if _, err := t.record(v, enc, true); err != nil {
		return FileVersion{}, err
	}
	if err := t.setCurrent(v, enc, prev, hadPrev); err != nil {
		return FileVersion{}, err
	}
	if err := t.clearFrontier(p); err != nil {
		return FileVersion{}, err
	}
	t.made = append(t.made, made{v, t.pos})
	return v, nil
}
