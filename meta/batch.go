package meta

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/uberan/latus/internal/journal"
)

// Group commit. A local Commit does not wait for an fsync: it applies its
// changes to the open batch (one bbolt write transaction that stays open
// for a few milliseconds), appends the versions it made to the journal
// with one write(2), and returns. Reads see the batch at once: while a
// batch is open every access goes through it, one at a time. The commit
// loop makes the batch durable when it is CommitDelay old or MaxBatch
// versions long, or when Sync asks: first Options.BeforeCommit (the chunk
// store syncs the chunk files and index records the versions reference),
// then the bbolt commit and its fsyncs, then the journal segment that held
// the batch is removed.
//
// A kill -9 loses nothing Commit returned: the journal is in the page
// cache, and Open replays it. A machine that dies loses the batch that
// was not durable yet (at most CommitDelay of saves, as a local
// filesystem loses writes not yet synced); Sync makes everything
// committed so far durable before it returns.
//
// Peers see only durable versions: Since makes the batch durable before
// it reads, and Options.Durable is called after each batch commits (the
// daemon announces the new position to peers then, not at Commit). So
// nothing that could still be lost here ever reaches another device, and
// no counter or position a peer learnt is given out again after a crash.
//
// Other writes (Merge, Restore, pruning) make the open batch durable
// first and then run in their own synced transaction, so the batch only
// ever holds local commits, all of them journaled: a commit that fails
// half-way rolls the batch back and replays the journaled versions into a
// new one (replayLocked), which is also what Open does after a crash.

const (
	// DefaultCommitDelay is how long a batch stays open after its first
	// commit when Options.CommitDelay is 0.
	DefaultCommitDelay = 25 * time.Millisecond
	// maxBatch commits the batch at once when it holds this many versions.
	maxBatch = 4096
)

// made is one version a local commit recorded, at its index position.
type made struct {
	v   FileVersion
	pos uint64
}

// pendingAt is where the open batch holds a path's newest version.
type pendingAt struct{ pos, seq uint64 }

// encodeMade lays out the versions of one commit as a journal record:
// count u32, then per version pos u64, len u32, encoded version.
func encodeMade(ms []made) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(ms)))
	for _, m := range ms {
		enc := m.v.encode()
		b = binary.BigEndian.AppendUint64(b, m.pos)
		b = binary.BigEndian.AppendUint32(b, uint32(len(enc)))
		b = append(b, enc...)
	}
	return b
}

func decodeMade(b []byte) ([]made, error) {
	if len(b) < 4 {
		return nil, errors.New("short journal record")
	}
	n := binary.BigEndian.Uint32(b)
	b = b[4:]
	var out []made
	for range n {
		if len(b) < 12 {
			return nil, errors.New("short journal record")
		}
		pos := binary.BigEndian.Uint64(b)
		l := binary.BigEndian.Uint32(b[8:])
		b = b[12:]
		if uint64(len(b)) < uint64(l) {
			return nil, errors.New("short journal record")
		}
		v, err := decodeVersion(b[:l])
		if err != nil {
			return nil, err
		}
		out = append(out, made{v, pos})
		b = b[l:]
	}
	return out, nil
}

// put records v at index position pos exactly as a commit made it. A
// position the index already holds is a version replaced in place (a
// fold, or a replay of a batch that became durable before its journal
// segment was removed): its history record is overwritten.
func (t *txn) put(v FileVersion, pos uint64) error {
	enc := v.encode()
	t.seq = max(t.seq, v.Seq)
	t.pos = max(t.pos, pos)
	if hkey := t.index.Get(be64(pos)); hkey != nil {
		return t.replace(v, enc, hkey)
	}
	prev, hadPrev, err := t.current(v.Path)
	if err != nil {
		return err
	}
	id, err := t.historyB.NextSequence()
	if err != nil {
		return err
	}
	hkey := append(historyPrefix(v.Path), be64(id)...)
	if err := t.historyB.Put(hkey, storedForm(enc)); err != nil {
		return err
	}
	if err := t.seen.Put(seenKey(v, enc), be64(id)); err != nil {
		return err
	}
	t.stats.Versions++
	if err := t.index.Put(be64(pos), hkey); err != nil {
		return err
	}
	if err := t.setCurrent(v, enc, prev, hadPrev); err != nil {
		return err
	}
	return t.clearFrontier(v.Path)
}

// replace overwrites the history record at hkey with v (same origin and
// counter), and the current version of its path if that is the one
// replaced.
func (t *txn) replace(v FileVersion, enc, hkey []byte) error {
	hkey = append([]byte(nil), hkey...) // bbolt's bytes die with the next write
	old, err := t.historyAt(hkey)
	if err != nil {
		return err
	}
	if old.Origin != v.Origin || old.Seq != v.Seq || old.Path != v.Path {
		return fmt.Errorf("%w: index position holds %s/%d at %q, not %s/%d at %q", ErrInvalidVersion, old.Origin, old.Seq, old.Path, v.Origin, v.Seq, v.Path)
	}
	if err := t.seen.Delete(seenKey(old, old.encode())); err != nil {
		return err
	}
	if err := t.historyB.Put(hkey, storedForm(enc)); err != nil {
		return err
	}
	if err := t.seen.Put(seenKey(v, enc), hkey[len(hkey)-8:]); err != nil {
		return err
	}
	cur, ok, err := t.current(v.Path)
	if err != nil {
		return err
	}
	if ok && cur.Origin == v.Origin && cur.Seq == v.Seq {
		return t.setCurrent(v, enc, cur, true)
	}
	return nil
}

// fold replaces the current version of p with f's content when that
// version is still in the open batch: made here, not durable, and so seen
// by no other device. It reports false when the version is not pending
// (the caller then makes a new version).
func (t *txn) fold(p string, f FileVersion) (FileVersion, bool, error) {
	at, ok := t.db.pending[p]
	if !ok || t.tx != t.db.batch {
		return FileVersion{}, false, nil
	}
	cur, ok, err := t.live(p)
	if err != nil || !ok || cur.Origin != t.db.device || cur.Seq != at.seq || cur.Kind != f.Kind {
		return FileVersion{}, false, err
	}
	v := cur
	v.Mode, v.Size, v.MTime, v.Chunks, v.Hash, v.Target, v.Inline = f.Mode, f.Size, normTime(f.MTime), f.Chunks, f.Hash, f.Target, f.Inline
	hkey := t.index.Get(be64(at.pos))
	if hkey == nil {
		return FileVersion{}, false, fmt.Errorf("pending version of %q has no index record at %d", p, at.pos)
	}
	if err := t.replace(v, v.encode(), hkey); err != nil {
		return FileVersion{}, false, err
	}
	t.made = append(t.made, made{v, at.pos})
	return v, true, nil
}

// commitLocal runs a local commit in the open batch (see the top of this
// file). db.mu is held.
func (db *DB) commitLocal(fn func(t *txn) error) ([]made, error) {
	if db.batch == nil {
		tx, err := db.bolt.Begin(true)
		if err != nil {
			return nil, err
		}
		db.batch = tx
		db.kickFlusher(db.kick)
	}
	t := db.newTxn(db.batch)
	err := fn(t)
	if err == nil {
		err = t.save()
	}
	if err == nil && len(t.made) > 0 {
		rec := encodeMade(t.made)
		if err = db.journal.Append(rec); err == nil {
			db.batchRecs = append(db.batchRecs, rec)
		}
	}
	if err != nil {
		if rerr := db.rebuildLocked(); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return nil, err
	}
	for _, m := range t.made {
		db.pending[m.v.Path] = pendingAt{pos: m.pos, seq: m.v.Seq}
		db.batchLen++
	}
	if db.batchLen >= maxBatch {
		db.kickFlusher(db.now1)
	}
	return t.made, nil
}

func (db *DB) kickFlusher(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// rebuildLocked drops the open batch and replays its journaled commits
// into a new one: after a commit that failed half-way, or a bbolt commit
// that failed. db.mu is held.
func (db *DB) rebuildLocked() error {
	if db.batch != nil {
		db.batch.Rollback()
		db.batch = nil
	}
	if len(db.batchRecs) == 0 {
		return nil
	}
	tx, err := db.bolt.Begin(true)
	if err != nil {
		return fmt.Errorf("rebuild batch: %w", err)
	}
	db.batch = tx
	t := db.newTxn(tx)
	if err := t.replay(db.batchRecs); err != nil {
		return fmt.Errorf("rebuild batch: %w", err)
	}
	return t.save()
}

// replay puts the versions of journal records.
func (t *txn) replay(recs [][]byte) error {
	for i, rec := range recs {
		ms, err := decodeMade(rec)
		if err != nil {
			return fmt.Errorf("journal record %d: %w", i, err)
		}
		for _, m := range ms {
			if err := t.put(m.v, m.pos); err != nil {
				return fmt.Errorf("journal record %d: %q: %w", i, m.v.Path, err)
			}
		}
	}
	return nil
}

// flushLocked makes the open batch durable. db.mu is held.
func (db *DB) flushLocked() error {
	if db.batch == nil {
		return nil
	}
	if db.beforeCommit != nil {
		if err := db.beforeCommit(); err != nil {
			return fmt.Errorf("commit batch: before commit: %w", err)
		}
	}
	seg := db.journal.Seal()
	err := db.batch.Commit()
	db.batch = nil
	if err != nil {
		if rerr := db.rebuildLocked(); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return fmt.Errorf("commit batch: %w", err)
	}
	db.batchRecs, db.batchLen = nil, 0
	clear(db.pending)
	if err := db.journal.Drop(seg); err != nil {
		db.log.Warn("removing a journal segment already durable in meta.db (it is replayed harmlessly at the next start)", "err", err)
	}
	db.kickFlusher(db.durable)
	return nil
}

// flush makes every commit so far durable. The chunk store is synced once
// before the batch is locked, so commits may go on meanwhile; the call
// under the lock then finds little or nothing left to sync.
func (db *DB) flush() error {
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	start := time.Now()
	if db.beforeCommit != nil {
		db.mu.Lock()
		open := db.batch != nil
		db.mu.Unlock()
		if open {
			if err := db.beforeCommit(); err != nil {
				return fmt.Errorf("sync: before commit: %w", err)
			}
		}
	}
	locked := time.Now()
	db.mu.Lock()
	defer db.mu.Unlock()
	n := db.batchLen
	err := db.flushLocked()
	if n > 0 {
		db.log.Debug("batch committed", "versions", n, "sync", locked.Sub(start), "locked", time.Since(locked))
	}
	return err
}

// Sync makes every commit made so far durable before it returns (fsync
// of a file through the mount).
func (db *DB) Sync() error {
	if db.closed.Load() {
		return ErrClosed
	}
	if err := db.flush(); err != nil {
		return fmt.Errorf("sync meta: %w", err)
	}
	return nil
}

// commitLoop commits each batch CommitDelay after it opened (at once when
// it is full), and tells Options.Durable after each commit. Failures are
// logged and retried: the batch stays readable and journaled meanwhile.
func (db *DB) commitLoop() {
	defer close(db.loopDone)
	for {
		select {
		case <-db.stop:
			return
		case <-db.durable:
			if db.onDurable != nil {
				db.onDurable()
			}
			continue
		case <-db.kick:
		case <-db.now1:
		}
		t := time.NewTimer(db.commitDelay)
		select {
		case <-db.stop:
			t.Stop()
			return
		case <-t.C:
		case <-db.now1:
			t.Stop()
		}
		if err := db.flush(); err != nil {
			db.log.Error("committing a batch of saves to meta.db failed; they stay journaled and are retried", "err", err)
			db.kickFlusher(db.kick)
		}
	}
}

// openJournal replays the journal left by a process that ended without
// committing its last batch, and opens it for this one.
func (db *DB) openJournal(path string) error {
	j, recs, last, err := journal.Open(path + ".journal")
	if err != nil {
		return err
	}
	if len(recs) > 0 {
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			t := db.newTxn(tx)
			if err := t.replay(recs); err != nil {
				return err
			}
			return t.save()
		})
		if err != nil {
			j.Close()
			return fmt.Errorf("replay journal: %w", err)
		}
		db.log.Info("replayed saves journaled before the last stop", "commits", len(recs))
	}
	if err := j.Drop(last); err != nil {
		j.Close()
		return err
	}
	db.journal = j
	return nil
}
