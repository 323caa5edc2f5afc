package meta

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/uberan/latus/internal/simbug"
)

// maxConflictDepth bounds conflicts about conflict copies (a copy whose
// name is taken by a concurrent, different version).
const maxConflictDepth = 2

// Merge applies versions paged from device's index, up to its position
// upTo, in one transaction, and records upTo as PeerPos(device). See the
// package documentation for the rules. It is MergeAt with no epoch: the
// position is recorded whatever epoch it was last merged under.
func (db *DB) Merge(device string, vs []FileVersion, upTo uint64) (MergeResult, error) {
	return db.MergeAt(device, 0, vs, upTo)
}

// MergeAt is Merge of a page device served under its epoch (Epoch.ID):
// the versions are applied in any case, but upTo is recorded only if
// epoch is the one PullFrom last recorded for device (or 0), so a page
// served before the device reopened its index cannot move the position
// past versions it gave out since (epoch.go).
//
// Every version is checked first; if any is invalid the whole page is
// refused with an error wrapping ErrInvalidPath or ErrInvalidVersion,
// nothing changes, and the refusal is logged.
func (db *DB) MergeAt(device string, epoch uint64, vs []FileVersion, upTo uint64) (MergeResult, error) {
	if err := validDevice(device); err != nil {
		return MergeResult{}, fmt.Errorf("merge: %w", err)
	}
	if device == db.device {
		return MergeResult{}, fmt.Errorf("merge: %w: page from this device itself", ErrInvalidVersion)
	}
	page := make([]FileVersion, len(vs))
	now := db.now()
	for i, v := range vs {
		v.MTime = normTime(v.MTime)
		err := validateVersion(&v)
		if err == nil {
			err = checkCounters(v, now)
		}
		if err != nil {
			db.log.Warn("refused a page of versions", "from", device, "upTo", upTo, "index", i, "err", err)
			return MergeResult{}, fmt.Errorf("merge from %s: version %d: %w", device, i, err)
		}
		page[i] = v
	}
	var res MergeResult
	err := db.update(func(t *txn) error {
		m := &merger{t: t}
		for _, v := range page {
			t.adopt(v)
			if err := m.merge(v, 0); err != nil {
				return fmt.Errorf("%q from %s:%d: %w", v.Path, v.Origin, v.Seq, err)
			}
		}
		if err := m.fixOrphans(); err != nil {
			return err
		}
		res = m.res
		return t.setPeerPos(device, epoch, upTo)
	})
	if err != nil {
		return MergeResult{}, fmt.Errorf("merge from %s: %w", device, err)
	}
	for _, c := range res.Conflicts {
		db.log.Info("conflict: kept the losing version beside the winner", "copy", c, "from", device)
	}
	return res, nil
}

// merger applies one page.
type merger struct {
	t       *txn
	res     MergeResult
	touched []string // paths whose current version changed, for fixOrphans
}

// merge applies one valid version.
func (m *merger) merge(v FileVersion, depth int) error {
	t := m.t
	enc := v.encode()
	if t.known(v, enc) {
		return nil
	}
	cur, ok, err := t.current(v.Path)
	if err != nil {
		return err
	}
	if !ok {
		return m.take(v, enc, cur, false)
	}
	if v.Vector.Compare(cur.Vector) == After || simbug.On("merge-ignores-vectors") {
		return m.take(v, enc, cur, true)
	}
	front, err := m.frontier(cur)
	if err != nil {
		return err
	}
	for _, f := range front {
		if v.Vector.Compare(f.v.Vector) == Before {
			// Already superseded here: keep it as an old version only.
			_, err := t.record(v, enc, false)
			return err
		}
	}
	// Concurrent with the frontier (or equal to a member's vector but
	// different: both stay in the frontier so the winner does not depend
	// on the order they came in).
	return m.concurrent(v, enc, cur, front, depth)
}

// take makes v, which dominates whatever was there, the current version.
func (m *merger) take(v FileVersion, enc []byte, cur FileVersion, hadCur bool) error {
	t := m.t
	if _, err := t.record(v, enc, true); err != nil {
		return err
	}
	if err := t.setCurrent(v, enc, cur, hadCur); err != nil {
		return err
	}
	if err := t.clearFrontier(v.Path); err != nil {
		return err
	}
	m.changed(v, cur, hadCur)
	return nil
}

func (m *merger) changed(v, old FileVersion, hadOld bool) {
	m.touched = append(m.touched, v.Path)
	if hadOld && old.Deleted && v.Deleted {
		return
	}
	m.res.Applied = append(m.res.Applied, v)
}

// concurrent handles v concurrent with the current version cur: the
// frontier of the path gains v and loses what v dominates; its winner
// becomes current with the merge of all frontier vectors, and every live
// loser with different content is kept as a conflict copy.
func (m *merger) concurrent(v FileVersion, enc []byte, cur FileVersion, front []member, depth int) error {
	t := m.t
	vid, err := t.record(v, enc, true)
	if err != nil {
		return err
	}
	kept := front[:0]
	for _, f := range front {
		if f.v.Vector.Compare(v.Vector) != Before {
			kept = append(kept, f)
		}
	}
	kept = append(kept, member{vid, v})

	win := kept[0].v
	vec := Vector{}
	for _, f := range kept {
		vec = vec.Merge(f.v.Vector)
		if beats(f.v, win) {
			win = f.v
		}
	}
	now := win
	now.Vector = vec
	nowEnc := now.encode()
	if err := t.setCurrent(now, nowEnc, cur, true); err != nil {
		return err
	}
	if err := m.saveFrontier(v.Path, kept); err != nil {
		return err
	}
	m.changed(now, cur, true)

	for _, f := range kept {
		if f.v.Deleted || sameContent(f.v, win) {
			continue
		}
		c := conflictCopy(f.v)
		if depth >= maxConflictDepth || ValidatePath(c.Path) != nil {
			t.db.log.Warn("conflict copy not made; the version stays in history", "path", f.v.Path, "origin", f.v.Origin, "seq", f.v.Seq)
			continue
		}
		before := len(m.res.Applied)
		if err := m.merge(c, depth+1); err != nil {
			return fmt.Errorf("conflict copy %q: %w", c.Path, err)
		}
		if len(m.res.Applied) > before {
			m.res.Conflicts = append(m.res.Conflicts, c.Path)
		}
	}
	return nil
}

// member is a frontier version and its history id.
type member struct {
	id uint64
	v  FileVersion
}

// frontier returns the versions of cur's path that nothing else recorded
// dominates: the stored list when there was a conflict, else cur itself.
func (m *merger) frontier(cur FileVersion) ([]member, error) {
	t := m.t
	prefix := historyPrefix(cur.Path)
	if ids := t.frontier.Get([]byte(cur.Path)); ids != nil {
		out := make([]member, 0, len(ids)/8)
		for len(ids) >= 8 {
			id := binary.BigEndian.Uint64(ids)
			ids = ids[8:]
			v, err := t.historyAt(append(slices.Clip(prefix), be64(id)...))
			if err != nil {
				return nil, err
			}
			out = append(out, member{id, v})
		}
		return out, nil
	}
	id, ok := t.seenID(cur, cur.encode())
	if !ok {
		return nil, fmt.Errorf("current version of %q is not in its history", cur.Path)
	}
	return []member{{id, cur}}, nil
}

func (m *merger) saveFrontier(p string, front []member) error {
	if len(front) < 2 {
		return m.t.clearFrontier(p)
	}
	m.t.noFrontier = 2
	ids := make([]byte, 0, 8*len(front))
	for _, f := range front {
		ids = binary.BigEndian.AppendUint64(ids, f.id)
	}
	return m.t.frontier.Put([]byte(p), ids)
}

// fixOrphans makes every ancestor of every live path touched by this page
// a live directory again, and does the same for the live descendants of a
// touched path that is no longer a live directory.
func (m *merger) fixOrphans() error {
	t := m.t
	for i := 0; i < len(m.touched); i++ { // fixing may touch more paths
		p := m.touched[i]
		cur, ok, err := t.current(p)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if !cur.Deleted {
			if err := m.ensureAncestors(cur); err != nil {
				return err
			}
		}
		if cur.Deleted || cur.Kind != KindDir {
			var live []FileVersion
			err := t.descendants(p, func(d FileVersion) error {
				if !d.Deleted {
					live = append(live, d)
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, d := range live {
				if err := m.ensureAncestors(d); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// ensureAncestors re-creates, outermost first, every ancestor of child
// that is missing, deleted or not a directory. The new directory version is
// derived from child (its origin and sequence; the ancestor's vector
// advanced to them), so devices repairing the same orphan make the same
// version. A file or symlink in the way is first kept as a conflict copy.
func (m *merger) ensureAncestors(child FileVersion) error {
	t := m.t
	for _, a := range ancestors(child.Path) {
		if t.checkDir(a) == nil { // cached per transaction
			continue
		}
		cur, ok, err := t.current(a)
		if err != nil {
			return err
		}
		mode := uint32(0o755)
		if ok && cur.Kind == KindDir && cur.Mode != 0 {
			mode = cur.Mode
		}
		r := FileVersion{
			Path:   a,
			Kind:   KindDir,
			Mode:   mode,
			MTime:  child.MTime,
			Change: Created,
			Origin: child.Origin,
			Seq:    child.Seq,
			Vector: cur.Vector.Merge(Vector{child.Origin: child.Seq}),
		}
		if ok && !cur.Deleted && r.Vector.Compare(cur.Vector) == After {
			// The directory replaces a file or symlink: keep it aside. (When
			// the vectors are equal, merge treats them as concurrent and
			// keeps the loser aside itself.)
			c := conflictCopy(cur)
			if ValidatePath(c.Path) == nil {
				before := len(m.res.Applied)
				if err := m.merge(c, maxConflictDepth); err != nil {
					return fmt.Errorf("conflict copy %q: %w", c.Path, err)
				}
				if len(m.res.Applied) > before {
					m.res.Conflicts = append(m.res.Conflicts, c.Path)
				}
			}
		}
		if err := m.merge(r, 0); err != nil {
			return fmt.Errorf("re-create %q: %w", a, err)
		}
		t.db.log.Info("re-created a directory that a concurrent change left an entry in", "dir", a, "entry", child.Path)
	}
	return nil
}
