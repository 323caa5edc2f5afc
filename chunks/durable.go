package chunks

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/uberan/latus/internal/journal"
)

// Deferred durability of local writes. A chunk PutStream stores is written
// to its file without an fsync, its index record is not written either:
// the chunk is complete in memory at once, and a journal record (one
// write(2), chunks/journal.<n>) says it was put. Sync makes every such
// chunk durable in one pass: one syncfs(2) of the store's filesystem (or
// an fsync per file where syncfs is missing), then one bbolt transaction
// with all their index records, then the journal segment goes. meta calls
// Sync before it makes the versions that reference the chunks durable
// (meta.Options.BeforeCommit), so a durable version never references a
// chunk that is not.
//
// A kill -9 loses nothing: the files and the journal are in the page
// cache, and Open replays the journal, verifying each chunk's file
// against its ID before it records the chunk (in custody, as a local
// write). A machine that dies may lose chunks put since the last Sync;
// their versions were not durable either.
//
// Every other change of a chunk's record is written (and synced) when it
// is made. One that meets a chunk still waiting for Sync first fsyncs the
// chunk's file, and takes the chunk out of the next Sync; one that meets
// a chunk of a Sync in progress waits for it, so records are never
// written out of order.

// syncFilesAtMost is the number of pending chunk files up to which Sync
// fsyncs each file (syncWorkers at a time, so they share the filesystem's
// journal commits) instead of the whole filesystem: syncfs also waits for
// every other program's dirty data there.
const (
	syncFilesAtMost = 256
	syncWorkers     = 32
)

// putRecord is the journal record of a deferred put.
type putRecord struct {
	id     ID
	codec  Codec
	size   int64
	stored int64
}

func (r putRecord) encode() []byte {
	b := append([]byte(nil), r.id[:]...)
	b = append(b, byte(r.codec))
	b = binary.BigEndian.AppendUint64(b, uint64(r.size))
	return binary.BigEndian.AppendUint64(b, uint64(r.stored))
}

func decodePutRecord(b []byte) (putRecord, error) {
	var r putRecord
	if len(b) != len(r.id)+17 {
		return r, errBadRecord
	}
	copy(r.id[:], b)
	r.codec = Codec(b[32])
	r.size = int64(binary.BigEndian.Uint64(b[33:]))
	r.stored = int64(binary.BigEndian.Uint64(b[41:]))
	return r, nil
}

// syncFlight is a Sync in progress: the chunks whose records it writes.
type syncFlight struct {
	ids  map[ID]struct{}
	done chan struct{}
}

// awaitFlight waits until no Sync in progress holds id. s.mu is held on
// entry and on return (it is released while waiting).
func (s *Store) awaitFlight(id ID) {
	for s.flight != nil {
		fl := s.flight
		if _, ok := fl.ids[id]; !ok {
			return
		}
		s.mu.Unlock()
		<-fl.done
		s.mu.Lock()
	}
}

// deferPut records a chunk put whose file was written without an fsync:
// journaled now, indexed by the next Sync. It installs ne (installStored)
// under the same lock that marks it unsynced, so a Sync never takes the
// chunk before its entry is in place.
func (s *Store) deferPut(id ID, ne *entry, n int64) error {
	s.mu.Lock()
	s.awaitFlight(id)
	if err := s.journal.Append(putRecord{id, ne.codec, ne.size, ne.stored}.encode()); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("chunk %s: %w", id.Short(), err)
	}
	s.unsynced[id] = struct{}{}
	s.installStored(id, ne, n)
	s.mu.Unlock()
	return nil
}

// settle readies id for a record written now: it waits for a Sync in
// progress holding it, and makes a file still waiting for Sync durable
// first (unless the record forgets the chunk).
func (s *Store) settle(id ID, e *entry) error {
	s.mu.Lock()
	s.awaitFlight(id)
	_, waiting := s.unsynced[id]
	delete(s.unsynced, id)
	s.mu.Unlock()
	if !waiting || e == nil || e.state != Complete {
		return nil
	}
	if err := syncPath(s.chunkPath(id)); err != nil {
		s.mu.Lock()
		s.unsynced[id] = struct{}{}
		s.mu.Unlock()
		return fmt.Errorf("chunk %s: %w", id.Short(), err)
	}
	return syncPath(s.chunkDir(id))
}

// Sync makes every chunk put so far durable: files, then index records.
// A closed store has nothing left to sync.
func (s *Store) Sync() error {
	if err := s.enter(); err != nil {
		return nil
	}
	defer s.leave()
	return s.syncPending()
}

func (s *Store) syncPending() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	if len(s.unsynced) == 0 {
		s.mu.Unlock()
		return nil
	}
	fl := &syncFlight{ids: s.unsynced, done: make(chan struct{})}
	s.unsynced = make(map[ID]struct{})
	s.flight = fl
	seg := s.journal.Seal() // later puts go to the next segment
	s.mu.Unlock()

	err := s.syncFiles(fl.ids)
	if err == nil {
		err = s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketChunks)
			for id := range fl.ids {
				s.mu.Lock()
				var rec []byte
				if e := s.entries[id]; e != nil && !e.empty() {
					rec = e.encode()
				}
				s.mu.Unlock()
				var err error
				if rec == nil {
					err = b.Delete(id[:])
				} else {
					err = b.Put(id[:], rec)
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	s.mu.Lock()
	s.flight = nil
	if err != nil {
		for id := range fl.ids {
			s.unsynced[id] = struct{}{}
		}
	}
	s.mu.Unlock()
	close(fl.done)
	if err != nil {
		return fmt.Errorf("sync chunk store: %w", err)
	}
	if err := s.journal.Drop(seg); err != nil {
		s.log.Warn("removing a chunk journal segment already durable in the index (it is replayed harmlessly at the next start)", "err", err)
	}
	return nil
}

// syncFiles makes the files of ids durable: one by one when they are few,
// else with one syncfs of the store's filesystem.
func (s *Store) syncFiles(ids map[ID]struct{}) error {
	if len(ids) > syncFilesAtMost {
		err := syncFS(s.dir)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.ENOSYS) {
			return err
		}
	}
	// fsyncs in parallel share the filesystem's journal commits.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	dirs := make(map[string]bool)
	slots := make(chan struct{}, syncWorkers)
	for id := range ids {
		dirs[s.chunkDir(id)] = true
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := syncPath(s.chunkPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("chunk %s: %w", id.Short(), err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for d := range dirs {
		if err := syncPath(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func syncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}

// openJournal replays the puts journaled by a process that ended before
// it synced them: each chunk whose file still holds its bytes is recorded
// complete, in custody; the others are forgotten (scanFiles removes what
// is left of their files). s.entries is loaded; the store is not yet in
// use.
func (s *Store) openJournal() error {
	j, recs, last, err := journal.Open(filepath.Join(s.dir, "journal"))
	if err != nil {
		return err
	}
	s.journal = j
	var ids []ID
	replayed := make(map[ID]*entry)
	for _, b := range recs {
		r, err := decodePutRecord(b)
		if err != nil {
			s.log.Warn("skipping a malformed chunk journal record")
			continue
		}
		if e := s.entries[r.id]; (e != nil && e.state == Complete) || replayed[r.id] != nil {
			continue
		}
		if err := s.verifyFile(r); err != nil {
			s.log.Warn("a chunk put before the last stop did not survive it", "chunk", r.id.Short(), "err", err)
			continue
		}
		ne := &entry{state: Missing}
		if e := s.entries[r.id]; e != nil {
			ne = e.clone()
		}
		ne.state, ne.codec, ne.size, ne.stored, ne.token = Complete, r.codec, r.size, r.stored, 0
		ne.flags = ne.flags&^flagFetched | flagCustody
		ne.atime = time.Now().UnixNano()
		replayed[r.id] = ne
		ids = append(ids, r.id)
	}
	if len(ids) > 0 {
		set := make(map[ID]struct{}, len(ids))
		for _, id := range ids {
			set[id] = struct{}{}
		}
		if err := s.syncFiles(set); err != nil {
			return fmt.Errorf("replay journal: %w", err)
		}
		err := s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketChunks)
			for _, id := range ids {
				if err := b.Put(id[:], replayed[id].encode()); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("replay journal: %w", err)
		}
		for _, id := range ids {
			s.entries[id] = replayed[id]
		}
		s.log.Info("recorded chunks put before the last stop", "chunks", len(ids))
	}
	return j.Drop(last)
}

// verifyFile checks that r's chunk file holds the chunk.
func (s *Store) verifyFile(r putRecord) error {
	b, err := os.ReadFile(s.chunkPath(r.id))
	if err != nil {
		return err
	}
	if int64(len(b)) != r.stored {
		return fmt.Errorf("%d bytes, want %d", len(b), r.stored)
	}
	plain, err := s.codecs.decode(r.codec, b)
	if err != nil {
		return err
	}
	if int64(len(plain)) != r.size || Sum(plain) != r.id {
		return fmt.Errorf("content does not hash to its id")
	}
	return nil
}
