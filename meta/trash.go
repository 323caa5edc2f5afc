package meta

import (
	"fmt"
	"sort"
	"time"
)

// DeleteWindow is how long before a directory's own deletion the
// deletions of its contents count as part of it: rm -r removes the files
// first, one by one, then the directory. RestoreDeleted brings back what
// was deleted in that window and leaves older deletions deleted.
const DeleteWindow = time.Minute

// Trashed is a deleted path: what `latus log --deleted` lists.
type Trashed struct {
	Path      string
	Kind      Kind
	DeletedAt time.Time // the tombstone's time
	Device    string    // the device that deleted it
	Size      int64     // size of its last live version
}

// Deleted lists the paths at or under dir ("" = root) whose current
// version is a deletion, in path order. Paths with no live version kept
// (their history pruned) are left out: there is nothing to bring back;
// so are the old paths of renames whose new path is current.
func (db *DB) Deleted(dir string) ([]Trashed, error) {
	if err := validDir(dir); err != nil {
		return nil, fmt.Errorf("deleted: %w", err)
	}
	var out []Trashed
	err := db.view(func(t *txn) error {
		// A rename leaves a tombstone at the old path; it is not in the
		// trash while the renamed version is current.
		moved := map[string]bool{}
		err := t.files.ForEach(func(k, val []byte) error {
			v, err := decodeStored(val, string(k))
			if err == nil && !v.Deleted && v.Change == Renamed {
				moved[v.From] = true
			}
			return err
		})
		if err != nil {
			return err
		}
		visit := func(v FileVersion) error {
			if !v.Deleted || moved[v.Path] {
				return nil
			}
			h, err := t.history(v.Path)
			if err != nil {
				return err
			}
			last, ok := lastLive(h)
			if !ok {
				return nil
			}
			out = append(out, Trashed{Path: v.Path, Kind: v.Kind, DeletedAt: v.MTime, Device: v.Origin, Size: last.Size})
			return nil
		}
		if dir == "" {
			return t.files.ForEach(func(k, val []byte) error {
				v, err := decodeStored(val, string(k))
				if err != nil {
					return err
				}
				return visit(v)
			})
		}
		if v, ok, err := t.current(dir); err != nil {
			return err
		} else if ok {
			if err := visit(v); err != nil {
				return err
			}
		}
		return t.descendants(dir, visit)
	})
	if err != nil {
		return nil, fmt.Errorf("deleted %q: %w", dir, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// RestoreDeleted brings a deleted path back as new local versions, with
// the current time as their mtime, and returns them (parents first).
//
// With at zero: a deleted file comes back as its last live version; a
// deleted directory comes back with every path inside it that was deleted
// within DeleteWindow before the directory itself, each as its last live
// version. With at set: p and every deleted path inside it come back as
// they were at that moment (the last version whose time is not after at),
// those that were live then; p may then also be a live directory, to bring
// back what was deleted inside it since. Paths that are live now are never
// touched. Deleted parents of p are re-created from their last live
// version. Returns ErrNotFound if p has no history or nothing to bring
// back, ErrExists if p is a live file.
func (db *DB) RestoreDeleted(p string, at time.Time) ([]FileVersion, error) {
	if err := ValidatePath(p); err != nil {
		return nil, fmt.Errorf("restore deleted: %w", err)
	}
	var out []FileVersion
	err := db.update(func(t *txn) error {
		cur, ok, err := t.current(p)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if !cur.Deleted && (cur.Kind != KindDir || at.IsZero()) {
			return fmt.Errorf("%w: it is not deleted (latus log lists its versions; restore one with --version N)", ErrExists)
		}
		pick := func(v FileVersion, h []FileVersion) (FileVersion, bool) {
			if !at.IsZero() {
				return liveAt(h, at)
			}
			if v.Path != p && v.MTime.Before(cur.MTime.Add(-DeleteWindow)) {
				return FileVersion{}, false // deleted on its own, before the directory
			}
			return lastLive(h)
		}
		restore := func(v FileVersion) error {
			if !v.Deleted {
				return nil
			}
			h, err := t.history(v.Path)
			if err != nil {
				return err
			}
			old, ok := pick(v, h)
			if !ok {
				return nil
			}
			if err := t.checkDir(parent(v.Path)); err != nil {
				return nil // its directory stays deleted at that moment
			}
			old.MTime = normTime(time.Now())
			nv, err := t.newLocal(v.Path, old, Modified, "")
			if err != nil {
				return err
			}
			out = append(out, nv)
			return nil
		}
		if err := t.restoreParents(p, &out); err != nil {
			return err
		}
		if err := restore(cur); err != nil {
			return err
		}
		if cur.Kind == KindDir {
			// Collected first: a bbolt cursor must not walk a bucket
			// being written.
			var inside []FileVersion
			if err := t.descendants(p, func(v FileVersion) error {
				if v.Deleted {
					inside = append(inside, v)
				}
				return nil
			}); err != nil {
				return err
			}
			for _, v := range inside {
				if err := restore(v); err != nil {
					return err
				}
			}
		}
		if len(out) == 0 {
			return fmt.Errorf("nothing deleted to bring back: %w", ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("restore deleted %q: %w", p, err)
	}
	return out, nil
}

// restoreParents re-creates the deleted directories above p, top down,
// from their last live version.
func (t *txn) restoreParents(p string, out *[]FileVersion) error {
	var missing []string
	for d := parent(p); d != ""; d = parent(d) {
		if _, ok, err := t.live(d); err != nil {
			return err
		} else if ok {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		h, err := t.history(d)
		if err != nil {
			return err
		}
		old, ok := lastLive(h)
		if !ok || old.Kind != KindDir {
			return fmt.Errorf("parent %q: %w", d, ErrNotFound)
		}
		old.MTime = normTime(time.Now())
		nv, err := t.newLocal(d, old, Modified, "")
		if err != nil {
			return err
		}
		*out = append(*out, nv)
	}
	return nil
}

// lastLive returns the last live version in h (oldest first).
func lastLive(h []FileVersion) (FileVersion, bool) {
	for i := len(h) - 1; i >= 0; i-- {
		if !h[i].Deleted {
			return h[i], true
		}
	}
	return FileVersion{}, false
}

// liveAt returns the version of h that was current at moment at, if it
// was live: the last one recorded whose time is not after at. A version's
// time is its mtime (a deletion's is when it happened).
func liveAt(h []FileVersion, at time.Time) (FileVersion, bool) {
	for i := len(h) - 1; i >= 0; i-- {
		if !h[i].MTime.After(at) {
			return h[i], !h[i].Deleted
		}
	}
	return FileVersion{}, false
}
