package meta

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/internal/simbug"
)

// Retention prunes this device's history: each device prunes its own copy
// with its own policy, and pruning is never sent to peers. A pruned
// version keeps its key in the seen bucket, so a peer's page that still
// carries it is recognised and the version is not recorded again; index
// entries that pointed at it are skipped by Since. The current version of
// a path, and every version of its frontier after a conflict, are never
// pruned. A version's age counts from when the next version replaced it.

// Policy says which versions of a path history keeps.
type Policy struct {
	KeepAll time.Duration // every version younger than this
	Daily   time.Duration // then the newest version of each UTC day, until this age
	Deleted time.Duration // a path deleted longer ago than this keeps only its tombstone
}

// DefaultPolicy keeps every version for 30 days, then one a day for a
// year, and the history of deleted files for 90 days.
func DefaultPolicy() Policy {
	const day = 24 * time.Hour
	return Policy{KeepAll: 30 * day, Daily: 365 * day, Deleted: 90 * day}
}

// Validate checks that the durations make sense together.
func (p Policy) Validate() error {
	if p.KeepAll < 0 || p.Daily < 0 || p.Deleted < 0 {
		return fmt.Errorf("retention: negative duration in %+v", p)
	}
	if p.Daily != 0 && p.Daily < p.KeepAll {
		return fmt.Errorf("retention: daily versions (%s) must reach beyond all versions (%s)", p.Daily, p.KeepAll)
	}
	return nil
}

// PruneResult tells what a prune removed (or, dry, would remove).
type PruneResult struct {
	Versions int   // history records removed
	Bytes    int64 // plain bytes of the distinct chunks only the removed versions referenced
}

// keeps decides, for one path's history (oldest first), which versions
// the policy keeps at time now. protected versions (the current one, the
// frontier) are always kept. cur is the path's current version.
//
// A version's age counts from when the next one replaced it (the later of
// its own and the next version's MTime): a file untouched for two years
// and then changed, or deleted, keeps its old content for the full
// period, as the user last saw it only now.
func (p Policy) keeps(hist []FileVersion, protected []bool, cur FileVersion, now time.Time) []bool {
	keep := slices.Clone(protected)
	if simbug.On("prune-current") {
		keep = make([]bool, len(hist))
	}
	goneLongAgo := cur.Deleted && p.Deleted > 0 && now.Sub(cur.MTime) > p.Deleted
	lastDay := time.Time{}
	for i := len(hist) - 1; i >= 0; i-- { // newest first: a day keeps its newest version
		if keep[i] || goneLongAgo {
			continue
		}
		replaced := hist[i].MTime
		if i+1 < len(hist) && hist[i+1].MTime.After(replaced) {
			replaced = hist[i+1].MTime
		}
		age := now.Sub(replaced)
		day := replaced.UTC().Truncate(24 * time.Hour)
		switch {
		case age < p.KeepAll:
			keep[i] = true
		case age < p.Daily && !day.Equal(lastDay):
			keep[i] = true
			lastDay = day
		}
	}
	return keep
}

// Prune removes the versions pol does not keep at now from this device's
// history, in one transaction. dryRun counts them and changes nothing.
func (db *DB) Prune(pol Policy, now time.Time, dryRun bool) (PruneResult, error) {
	if err := pol.Validate(); err != nil {
		return PruneResult{}, err
	}
	var drop [][]byte
	res, err := db.prune(dryRun, func(ph *pathHistory) {
		keep := pol.keeps(ph.versions, ph.protected, ph.cur, now)
		for i, k := range keep {
			if !k {
				drop = append(drop, ph.keys[i])
			}
		}
	}, func() [][]byte { return drop })
	if err == nil && !dryRun {
		err = db.update(func(t *txn) error { return t.dropDeadIndex() })
	}
	if err != nil {
		return PruneResult{}, fmt.Errorf("prune: %w", err)
	}
	return res, nil
}

// PruneOldest removes the oldest versions that are not current and have
// content stored here, until that content adds up to need bytes (at least
// one version, if there is any): under cache pressure, history gives way
// before current data. stored tells whether this device holds a chunk
// (nil: every chunk counts); a version whose chunks are all elsewhere
// frees nothing here and is kept. A result with no versions means nothing
// is left to prune. stored runs inside a transaction: it must not use the
// history store.
func (db *DB) PruneOldest(need int64, stored func(chunks.ID) bool) (PruneResult, error) {
	type cand struct {
		key   []byte
		mtime time.Time
		id    uint64
		size  int64
	}
	var cs []cand // every version not current with content here: small records, not versions
	res, err := db.prune(false, func(ph *pathHistory) {
		for i, v := range ph.versions {
			if ph.protected[i] {
				continue
			}
			var here int64
			for _, r := range v.Chunks {
				if stored == nil || stored(r.ID) {
					here += r.Size
				}
			}
			if here > 0 {
				cs = append(cs, cand{ph.keys[i], v.MTime, ph.ids[i], here})
			}
		}
	}, func() [][]byte {
		slices.SortFunc(cs, func(a, b cand) int {
			if c := a.mtime.Compare(b.mtime); c != 0 {
				return c
			}
			return cmp.Compare(a.id, b.id)
		})
		var drop [][]byte
		var sum int64
		for _, c := range cs {
			if sum >= need && len(drop) > 0 {
				break
			}
			drop = append(drop, c.key)
			sum += c.size
		}
		return drop
	})
	if err != nil {
		return PruneResult{}, fmt.Errorf("prune oldest: %w", err)
	}
	return res, nil
}

// pathHistory is one path's history as prune sees it.
type pathHistory struct {
	cur       FileVersion
	versions  []FileVersion // oldest first
	keys      [][]byte      // history keys
	ids       []uint64      // history ids
	protected []bool        // current or frontier: never pruned
}

// prune shows visit every path's history, one path at a time (visit must
// not keep ph's slices, but may keep its keys), asks pick for the history
// keys to drop and drops them (unless dryRun), counting the bytes of the
// chunks no kept or current version references any more. Memory grows
// with what is dropped, not with the tree: a big tree's history is never
// held whole.
func (db *DB) prune(dryRun bool, visit func(ph *pathHistory), pick func() [][]byte) (PruneResult, error) {
	var res PruneResult
	run := db.update
	if dryRun {
		run = db.view
	}
	err := run(func(t *txn) error {
		if err := t.eachHistory(visit); err != nil {
			return err
		}
		drop := pick()
		if len(drop) == 0 {
			return nil
		}
		bytes, err := t.freedBytes(drop)
		if err != nil {
			return err
		}
		res.Versions, res.Bytes = len(drop), bytes
		if dryRun {
			return nil
		}
		for _, k := range drop {
			if err := t.historyB.Delete(k); err != nil {
				return err
			}
		}
		t.stats.Versions -= len(drop)
		return nil
	})
	return res, err
}

// freedBytes adds up the plain bytes of the chunks that the history
// records drop reference and no other record, current or in history,
// does.
func (t *txn) freedBytes(drop [][]byte) (int64, error) {
	dropped := make(map[string]bool, len(drop))
	freed := make(map[chunks.ID]int64)
	for _, k := range drop {
		dropped[string(k)] = true
		v, err := t.historyAt(k)
		if err != nil {
			return 0, err
		}
		for _, r := range v.Chunks {
			freed[r.ID] = r.Size
		}
	}
	for _, b := range []*bolt.Bucket{t.historyB, t.files} {
		if len(freed) == 0 {
			break
		}
		err := b.ForEach(func(k, val []byte) error {
			if b == t.historyB && dropped[string(k)] {
				return nil
			}
			v, err := decodeVersion(val)
			if err != nil {
				return fmt.Errorf("version record %x: %w", k, err)
			}
			for _, r := range v.Chunks {
				delete(freed, r.ID) // still referenced
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	var n int64
	for _, size := range freed {
		n += size
	}
	return n, nil
}

// eachHistory calls fn with each path's history in key order, with the
// path's current version and the versions that must stay; the
// pathHistory is reused from one path to the next.
func (t *txn) eachHistory(fn func(ph *pathHistory)) error {
	var ph pathHistory
	started := false
	flush := func() error {
		if !started {
			return nil
		}
		if err := t.protect(&ph); err != nil {
			return err
		}
		fn(&ph)
		return nil
	}
	c := t.historyB.Cursor()
	for k, val := c.First(); k != nil; k, val = c.Next() {
		i := bytes.IndexByte(k, 0)
		if i < 0 || len(k) != i+9 {
			return fmt.Errorf("malformed history key %x", k)
		}
		if !started || ph.cur.Path != string(k[:i]) {
			if err := flush(); err != nil {
				return err
			}
			p := string(k[:i])
			cur, ok, err := t.current(p)
			if err != nil {
				return err
			}
			if !ok {
				cur = FileVersion{}
			}
			cur.Path = p
			ph = pathHistory{cur: cur, versions: ph.versions[:0], keys: ph.keys[:0], ids: ph.ids[:0], protected: ph.protected[:0]}
			started = true
		}
		v, err := decodeStored(val, historyPath(k))
		if err != nil {
			return fmt.Errorf("history record %x: %w", k, err)
		}
		ph.versions = append(ph.versions, v)
		ph.keys = append(ph.keys, slices.Clone(k))
		ph.ids = append(ph.ids, binary.BigEndian.Uint64(k[i+1:]))
	}
	return flush()
}

// protect marks the versions of ph that prune must keep: the current one
// (found by its encoding, as merge's frontier does) and the frontier's.
// If the current version cannot be found in history, the newest record
// stands for it.
func (t *txn) protect(ph *pathHistory) error {
	ph.protected = slices.Grow(ph.protected[:0], len(ph.versions))[:len(ph.versions)]
	clear(ph.protected)
	if len(ph.versions) == 0 {
		return nil
	}
	mark := func(id uint64) bool {
		for i, x := range ph.ids {
			if x == id {
				ph.protected[i] = true
				return true
			}
		}
		return false
	}
	found := false
	if t.files.Get([]byte(ph.cur.Path)) != nil {
		if id, ok := t.seenID(ph.cur, ph.cur.encode()); ok {
			found = mark(id)
		}
	}
	if ids := t.frontier.Get([]byte(ph.cur.Path)); ids != nil {
		for ; len(ids) >= 8; ids = ids[8:] {
			found = mark(binary.BigEndian.Uint64(ids)) || found
		}
	}
	if !found {
		ph.protected[len(ph.protected)-1] = true
	}
	return nil
}

// dropDeadIndex deletes the index entries whose version was pruned (by
// this run or by PruneOldest, which leaves them to save a scan under
// pressure). Positions are not reused: keyPos keeps the last one given out.
func (t *txn) dropDeadIndex() error {
	var dead [][]byte
	c := t.index.Cursor()
	for k, hkey := c.First(); k != nil; k, hkey = c.Next() {
		if t.historyB.Get(hkey) == nil {
			dead = append(dead, slices.Clone(k))
		}
	}
	for _, k := range dead {
		if err := t.index.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
