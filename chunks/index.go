package chunks

import (
	"container/list"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// The bbolt index holds one record per chunk the store knows about
// (complete, in progress, or missing but pinned or with known holders) and
// the process epoch. Chunk bytes never go into it.
var (
	bucketMeta   = []byte("meta")
	bucketChunks = []byte("chunks")
	keyEpoch     = []byte("epoch")
)

// Record flags.
const (
	// flagFetched marks a chunk that came from another device (Write), as
	// opposed to a local write (Put).
	flagFetched uint8 = 1 << iota
	// flagCustody marks a chunk this device has promised to keep: a local
	// write, or a replica it accepted. It is never evicted; it is given
	// up only by a release that another device confirmed (custody.go).
	flagCustody
)

// entry is the in-memory mirror of an index record. Entries in Store.entries
// are replaced, never mutated, except atime and elem under Store.mu.
type entry struct {
	state   State
	codec   Codec
	flags   uint8
	size    int64 // plain bytes
	stored  int64 // bytes of the chunk file
	atime   int64 // unix nanoseconds of the last access
	pins    uint32
	token   Token
	holders []string // other devices that took custody of the chunk, as far as this one knows

	// Memory only.
	elem     *list.Element // position in the LRU of complete chunks
	progress chan struct{} // closed when an InProgress state ends
}

// empty reports whether the entry carries nothing worth a record.
func (e *entry) empty() bool {
	return e.state == Missing && e.pins == 0 && len(e.holders) == 0
}

// evictable reports whether eviction may drop the chunk: complete,
// unpinned, and not in this device's custody (a cached copy).
func (e *entry) evictable() bool {
	return e.state == Complete && e.pins == 0 && !e.custody()
}

// custody reports whether this device promised to keep the chunk.
func (e *entry) custody() bool { return e.flags&flagCustody != 0 }

// localOnly reports whether this device keeps the chunk and knows of no
// other device that does: it waits to reach another device.
func (e *entry) localOnly() bool {
	return e.custody() && len(e.holders) == 0
}

// clone returns a copy that shares nothing mutable with e.
func (e *entry) clone() *entry {
	c := *e
	c.holders = slices.Clone(e.holders)
	c.elem = nil
	return &c
}

const (
	recordVersion = 2
	recordFixed   = 41 // bytes before the holders
	offAtime      = 19
	maxDeviceLen  = 255
)

// encode lays out a record, integers big-endian:
//
//	version u8 | state u8 | codec u8 | size u64 | stored u64 | atime i64 |
//	pins u32 | token u64 | flags u8 | nholders u8 | (len u8, device)…
func (e *entry) encode() []byte {
	n := recordFixed
	for _, h := range e.holders {
		n += 1 + len(h)
	}
	b := make([]byte, n)
	b[0] = recordVersion
	b[1] = byte(e.state)
	b[2] = byte(e.codec)
	binary.BigEndian.PutUint64(b[3:], uint64(e.size))
	binary.BigEndian.PutUint64(b[11:], uint64(e.stored))
	binary.BigEndian.PutUint64(b[offAtime:], uint64(e.atime))
	binary.BigEndian.PutUint32(b[27:], e.pins)
	binary.BigEndian.PutUint64(b[31:], uint64(e.token))
	b[39] = e.flags
	b[40] = byte(len(e.holders))
	p := recordFixed
	for _, h := range e.holders {
		b[p] = byte(len(h))
		p += 1 + copy(b[p+1:], h)
	}
	return b
}

var errBadRecord = errors.New("malformed index record")

func decodeEntry(b []byte) (*entry, error) {
	if len(b) < recordFixed || (b[0] != recordVersion && b[0] != 1) {
		return nil, errBadRecord
	}
	e := &entry{
		state:  State(b[1]),
		codec:  Codec(b[2]),
		size:   int64(binary.BigEndian.Uint64(b[3:])),
		stored: int64(binary.BigEndian.Uint64(b[11:])),
		atime:  int64(binary.BigEndian.Uint64(b[offAtime:])),
		pins:   binary.BigEndian.Uint32(b[27:]),
		token:  Token(binary.BigEndian.Uint64(b[31:])),
		flags:  b[39],
	}
	if e.state > Complete || e.codec > CodecZstd || e.size < 0 || e.stored < 0 {
		return nil, errBadRecord
	}
	nh := int(b[40])
	p := recordFixed
	for range nh {
		if p >= len(b) || p+1+int(b[p]) > len(b) {
			return nil, errBadRecord
		}
		e.holders = append(e.holders, string(b[p+1:p+1+int(b[p])]))
		p += 1 + int(b[p])
	}
	if p != len(b) {
		return nil, errBadRecord
	}
	if b[0] == 1 {
		// Version 1 had no custody: a local write was kept until some
		// device said "have", and those claims were never proved. Local
		// writes are this device's custody; the claimed holders are
		// forgotten, so replication proves them again.
		if e.state == Complete && e.flags&flagFetched == 0 {
			e.flags |= flagCustody
		}
		e.holders = nil
	}
	return e, nil
}

// bumpEpoch increments the process epoch stored in the index and returns it.
func bumpEpoch(tx *bolt.Tx) (uint32, error) {
	mb, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return 0, err
	}
	if _, err := tx.CreateBucketIfNotExists(bucketChunks); err != nil {
		return 0, err
	}
	var epoch uint32
	if v := mb.Get(keyEpoch); len(v) == 4 {
		epoch = binary.BigEndian.Uint32(v)
	}
	epoch++
	if epoch == 0 { // wrapped; 0 would make token 0 look valid
		epoch = 1
	}
	var v [4]byte
	binary.BigEndian.PutUint32(v[:], epoch)
	return epoch, mb.Put(keyEpoch, v[:])
}

// persist writes e as id's record, or deletes the record when e is nil or
// carries nothing. A chunk put whose durability was deferred is settled
// first (durable.go). The caller holds lockID(id).
func (s *Store) persist(id ID, e *entry) error {
	if err := s.settle(id, e); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketChunks)
		if e == nil || e.empty() {
			return b.Delete(id[:])
		}
		return b.Put(id[:], e.encode())
	})
	if err != nil {
		return fmt.Errorf("chunk %s: write index: %w", id.Short(), err)
	}
	return nil
}

// flushAtimes writes the last-access times gathered since the previous
// flush. Only the atime field of records that still exist is patched, so a
// flush never resurrects or reverts a record another operation rewrote.
func (s *Store) flushAtimes() error {
	s.mu.Lock()
	if len(s.dirty) == 0 {
		s.mu.Unlock()
		return nil
	}
	times := make(map[ID]int64, len(s.dirty))
	for id := range s.dirty {
		if e := s.entries[id]; e != nil {
			times[id] = e.atime
		}
	}
	clear(s.dirty)
	s.mu.Unlock()

	ids := make([]ID, 0, len(times))
	for id := range times {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b ID) int { return compareIDs(a, b) }) // sequential B-tree access
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketChunks)
		for _, id := range ids {
			v := b.Get(id[:])
			if len(v) < recordFixed {
				continue
			}
			nv := slices.Clone(v)
			binary.BigEndian.PutUint64(nv[offAtime:], uint64(times[id]))
			if err := b.Put(id[:], nv); err != nil {
				return err
			}
		}
		return nil
	})
}

func compareIDs(a, b ID) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}
