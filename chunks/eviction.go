package chunks

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Eviction keeps stored bytes under Options.Capacity. Before a chunk is
// written, reserve counts its bytes against the cap; when they do not fit
// it picks victims from the cold end of the LRU among complete, unpinned
// chunks that another device holds (entry.evictable) and takes them out of
// memory at once, so the cap holds even with writes in parallel. The
// victims' records and files go before the new file is written. When not
// enough is evictable nothing is evicted and the write fails with ErrFull.

type victim struct {
	id     ID
	stored int64
}

// reserve counts n stored bytes for a write of self against the cap and
// returns the chunks to evict first. The victims are marked busy; evict
// releases them. The caller undoes the reservation with reserved -= n.
func (s *Store) reserve(self ID, n int64) ([]victim, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.capacity <= 0 {
		s.reserved += n
		return nil, nil
	}
	over := s.used + s.reserved + n - s.capacity
	if over <= 0 {
		s.reserved += n
		return nil, nil
	}
	var vs []victim
	var freed int64
	for el := s.lru.Back(); el != nil && freed < over; el = el.Prev() {
		id := el.Value.(ID)
		e := s.entries[id]
		if id == self || !e.evictable() {
			continue
		}
		if _, busy := s.busy[id]; busy {
			continue
		}
		vs = append(vs, victim{id, e.stored})
		freed += e.stored
	}
	if freed < over {
		return nil, fmt.Errorf("%d bytes do not fit: %d of %d bytes used, %d reserved, %d evictable: %w",
			n, s.used, s.capacity, s.reserved, freed, ErrFull)
	}
	for _, v := range vs {
		s.busy[v.id] = make(chan struct{})
		s.install(v.id, nil)
	}
	s.reserved += n
	return vs, nil
}

// evict deletes the victims' records and files, then releases them.
func (s *Store) evict(vs []victim) {
	if len(vs) == 0 {
		return
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketChunks)
		for _, v := range vs {
			if err := b.Delete(v.id[:]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// The records come back at the next Open with their files, which
		// we keep: the cap may be exceeded then, never data lost.
		s.log.Error("evicting chunks: index update failed; keeping their files", "chunks", len(vs), "err", err)
	}
	for _, v := range vs {
		if err == nil {
			if rerr := s.removeChunkFile(v.id); rerr != nil {
				s.log.Warn("evicting chunk", "chunk", v.id.Short(), "err", rerr)
			}
		}
		s.cache.remove(v.id)
		s.unlockID(v.id)
		s.log.Debug("evicted chunk", "chunk", v.id.Short(), "stored", v.stored)
	}
}
