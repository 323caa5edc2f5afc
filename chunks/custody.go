package chunks

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/zeebo/blake3"
	bolt "go.etcd.io/bbolt"
)

// Custody is the store's half of the rule that keeps the last copy of a
// chunk: a device in custody of a chunk never evicts it, and gives custody
// up only after another device has confirmed that it took it over and
// proved it holds the bytes. The network half (who asks whom, and checking
// proofs) lives in package engine.
//
//   - Put takes custody: a local write is kept here until released.
//   - Keep takes custody of a complete chunk for another device: a replica
//     it placed here, or a release it is handing over.
//   - BeginRelease … EndRelease bracket a hand-off. While one runs, Keep of
//     the same chunk is refused with ErrReleasing, so two devices releasing
//     one chunk to each other can never both let go.
//   - Prove answers a nonce with a keyed BLAKE3 of the chunk's bytes: a
//     device that does not hold the bytes cannot answer.

// Nonce is the key of a proof of possession; each request uses a fresh one.
type Nonce [32]byte

// Proof is the keyed BLAKE3-256 of a chunk's plain bytes under a Nonce.
type Proof [32]byte

// ProofOf computes the proof of possession of plain under nonce.
func ProofOf(nonce Nonce, plain []byte) Proof {
	h, err := blake3.NewKeyed(nonce[:])
	if err != nil {
		panic(err) // only for a key that is not 32 bytes
	}
	h.Write(plain)
	var p Proof
	h.Sum(p[:0])
	return p
}

// Prove returns the proof of possession of id under nonce, from the bytes
// stored here. It returns ErrNotFound unless the chunk is complete.
func (s *Store) Prove(id ID, nonce Nonce) (Proof, error) {
	plain, err := s.Read(id)
	if err != nil {
		return Proof{}, err
	}
	return ProofOf(nonce, plain), nil
}

// Keep takes custody of the complete chunk id on behalf of device from
// ("" when no other device asked). With release, from is handing its
// custody over and is forgotten as a holder; otherwise from keeps its own
// and is recorded as one. It returns
// ErrNotFound unless the chunk is complete and ErrReleasing while this
// device is releasing the same chunk.
func (s *Store) Keep(id ID, from string, release bool) error {
	if len(from) > maxDeviceLen {
		return fmt.Errorf("keep chunk %s: device name must be at most %d bytes, got %d", id.Short(), maxDeviceLen, len(from))
	}
	return s.editEntry(id, "keep", func(ne *entry) (bool, error) {
		if ne.state != Complete {
			return false, fmt.Errorf("keep chunk %s: %w", id.Short(), ErrNotFound)
		}
		s.mu.Lock()
		_, releasing := s.releasing[id]
		s.mu.Unlock()
		if releasing {
			return false, fmt.Errorf("keep chunk %s: %w", id.Short(), ErrReleasing)
		}
		changed := !ne.custody()
		ne.flags |= flagCustody
		i := slices.Index(ne.holders, from)
		switch {
		case from == "":
		case release && i >= 0:
			ne.holders = slices.Delete(ne.holders, i, i+1)
			changed = true
		case !release && i < 0 && len(ne.holders) < 255:
			ne.holders = append(ne.holders, from)
			changed = true
		}
		return changed, nil
	})
}

// BeginRelease starts handing custody of id to another device. It returns
// ErrNotFound unless the chunk is complete and in custody here, and
// ErrReleasing when a release of it is already running. Every successful
// BeginRelease is paired with EndRelease.
func (s *Store) BeginRelease(id ID) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[id]
	if e == nil || e.state != Complete || !e.custody() {
		return fmt.Errorf("release chunk %s: not in custody: %w", id.Short(), ErrNotFound)
	}
	if _, ok := s.releasing[id]; ok {
		return fmt.Errorf("release chunk %s: %w", id.Short(), ErrReleasing)
	}
	s.releasing[id] = struct{}{}
	return nil
}

// EndRelease ends a release begun by BeginRelease. When to confirmed it
// took custody (and proved it), this device gives its own up: the chunk
// becomes an evictable cached copy and to is recorded as a holder. When
// not, nothing changes.
func (s *Store) EndRelease(id ID, to string, confirmed bool) error {
	defer func() {
		s.mu.Lock()
		delete(s.releasing, id)
		s.mu.Unlock()
	}()
	if !confirmed {
		return nil
	}
	return s.editEntry(id, "release", func(ne *entry) (bool, error) {
		if !ne.custody() {
			return false, nil
		}
		ne.flags &^= flagCustody
		if to != "" && !slices.Contains(ne.holders, to) && len(ne.holders) < 255 {
			ne.holders = append(ne.holders, to)
		}
		return true, nil
	})
}

// AddHolder records that device took custody of id and proved it. It
// changes no custody here. Holders are tracked only for chunks the store
// knows; for others it is a no-op.
func (s *Store) AddHolder(id ID, device string) error {
	if device == "" || len(device) > maxDeviceLen {
		return fmt.Errorf("add holder of chunk %s: device name must be 1 to %d bytes, got %d", id.Short(), maxDeviceLen, len(device))
	}
	return s.editEntry(id, "add holder", func(ne *entry) (bool, error) {
		if ne.empty() || slices.Contains(ne.holders, device) || len(ne.holders) >= 255 {
			return false, nil
		}
		ne.holders = append(ne.holders, device)
		return true, nil
	})
}

// RemoveHolder forgets that device keeps id (it failed a proof, or it was
// removed).
func (s *Store) RemoveHolder(id ID, device string) error {
	return s.editEntry(id, "remove holder", func(ne *entry) (bool, error) {
		i := slices.Index(ne.holders, device)
		if i < 0 {
			return false, nil
		}
		ne.holders = slices.Delete(ne.holders, i, i+1)
		return true, nil
	})
}

// ForgetHolder forgets device as a keeper of every chunk (it was removed:
// its claims are no longer trusted) and returns the chunks it was
// recorded for.
func (s *Store) ForgetHolder(device string) ([]ID, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	s.mu.Lock()
	var ids []ID
	for id, e := range s.entries {
		if slices.Contains(e.holders, device) {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	for _, id := range ids {
		err := s.editEntryLocked(id, "forget holder", func(ne *entry) (bool, error) {
			n := len(ne.holders)
			ne.holders = slices.DeleteFunc(ne.holders, func(h string) bool { return h == device })
			return len(ne.holders) != n, nil
		})
		if err != nil {
			return ids, err
		}
	}
	return ids, nil
}

// HeldBy counts, for each other device, the chunks it is known to keep.
func (s *Store) HeldBy() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := map[string]int{}
	for _, e := range s.entries {
		for _, h := range e.holders {
			n[h]++
		}
	}
	return n
}

// Info describes one chunk as the store knows it.
type Info struct {
	ID      ID
	State   State
	Custody bool // this device keeps it
	Pins    uint32
	Size    int64 // plain bytes (0 unless complete)
	Stored  int64 // bytes on disk (0 unless complete)
	ATime   int64 // unix nanoseconds of the last access
	Holders []string
}

func (e *entry) info(id ID) Info {
	return Info{ID: id, State: e.state, Custody: e.custody(), Pins: e.pins, Size: e.size, Stored: e.stored, ATime: e.atime, Holders: slices.Clone(e.holders)}
}

// Stat returns what the store knows of id; an unknown chunk is Missing.
func (s *Store) Stat(id ID) (Info, error) {
	if err := s.enter(); err != nil {
		return Info{}, err
	}
	defer s.leave()
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entries[id]; e != nil {
		return e.info(id), nil
	}
	return Info{ID: id, State: Missing}, nil
}

// Custodied returns the complete chunks in this device's custody for which
// keep reports true, least recently used first.
func (s *Store) Custodied(keep func(Info) bool) ([]Info, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	s.mu.Lock()
	var out []Info
	for id, e := range s.entries {
		if e.state != Complete || !e.custody() {
			continue
		}
		if in := e.info(id); keep(in) {
			out = append(out, in)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Info) int { return cmp.Compare(a.ATime, b.ATime) })
	return out, nil
}

// Room returns how many stored bytes more this device could take into
// custody: the cap less what custody and pins already hold (cached copies
// can always be evicted). Without a cap it is unbounded.
func (s *Store) Room() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.capacity <= 0 {
		return 1 << 62
	}
	held := s.nCustody
	for _, e := range s.entries {
		if e.state == Complete && e.pins > 0 && !e.custody() {
			held += e.stored
		}
	}
	return max(0, s.capacity-held-s.reserved)
}

// HeldByIn is HeldBy for the store in dir that no process has open: it
// reads the index read-only and changes nothing (latus devices without a
// daemon). A missing store counts nothing.
func HeldByIn(dir string) (map[string]int, error) {
	path := filepath.Join(dir, "index.db")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return map[string]int{}, nil
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("read chunk store %s: %w", path, err)
	}
	defer db.Close()
	n := map[string]int{}
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketChunks)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			if e, err := decodeEntry(v); err == nil {
				for _, h := range e.holders {
					n[h]++
				}
			}
			return nil
		})
	})
	return n, err
}
