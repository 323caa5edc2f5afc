package chunks

import (
	"cmp"
	"container/list"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/uberan/latus/internal/journal"
)

// State is a chunk's state in the store.
type State int

const (
	// Missing: no bytes here and no fetch in progress.
	Missing State = iota
	// InProgress: a fetch holds the chunk's current token.
	InProgress
	// Complete: the bytes are stored and were verified.
	Complete
)

func (s State) String() string {
	switch s {
	case Missing:
		return "missing"
	case InProgress:
		return "in-progress"
	case Complete:
		return "complete"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Token identifies one fetch of a chunk, from Begin to Write or Cancel. Its
// high 32 bits are the process epoch, so a token of an earlier process is
// never current.
type Token uint64

func (t Token) epoch() uint32 { return uint32(t >> 32) }

// Codec is the on-disk form of a chunk.
type Codec uint8

const (
	CodecNone Codec = iota // plain bytes
	CodecZstd              // one zstd frame
)

// DefaultMemCache is the size of the plain-chunk LRU when Options.MemCache is 0.
const DefaultMemCache = 64 << 20

// atimeFlushEvery is how often last-access times gathered by Read reach
// the index: a Read hit never writes to bbolt.
const atimeFlushEvery = 30 * time.Second

// Options configure a Store.
type Options struct {
	Dir      string // <state>/chunks
	Capacity int64  // hard byte cap on stored bytes; 0 = no cap
	MemCache int64  // bytes of the plain-chunk LRU; 0 = 64 MiB, < 0 = none
	Logger   *slog.Logger

	// Collection (sweep.go) and cache pressure (pressure.go).
	// Mark names every chunk a kept version references (meta.DB.Refs);
	// nil turns collection off.
	Mark func(keep func(ID)) error
	// Relieve is called, outside the store's locks, when a write does not
	// fit under the cap and nothing is evictable: it releases history
	// worth about need bytes and reports whether it released anything.
	Relieve func(need int64) bool
	// FetchedGrace: fetched chunks no kept version references survive
	// collection this long after their last access; 0 = 10 minutes.
	FetchedGrace time.Duration
	// HandOff, when set, is called when a write does not fit even after
	// Relieve: it may hand custody of cold chunks to other devices (the
	// engine), which makes them evictable here. It runs outside the
	// store's locks and may call the store; the write is then tried once
	// more.
	HandOff func(need int64)
	// KeepUnreplicated makes collection spare chunks in this device's
	// custody that no other device is known to keep, even when no version
	// kept here references them: other devices may still show a version
	// that does (a conflict copy, a view that has not merged the version
	// that replaced it, their own history). They become collectable once
	// replication placed a copy elsewhere. Set it on a device with peers;
	// a local-only store leaves it off, so its own pruned history frees
	// room.
	KeepUnreplicated bool
	// Verify, when set, is asked during collection (outside the store's
	// locks) about chunks in custody here that no kept version references
	// and that other devices are known to keep. It returns those another
	// device proved just now, with a fresh proof of possession, to keep.
	// Only they lose custody here (they become cached copies, removed by
	// the next collection or eviction); the others stay kept. Without
	// Verify, a known holder is trusted however old the knowledge is, and
	// a holder that was lost or restored from an older copy since leaves
	// the chunk with no keeper.
	Verify func(ids []ID) []ID
}

// Usage describes how full the store is.
type Usage struct {
	Used      int64 // stored bytes of complete chunks
	Capacity  int64 // 0 = no cap
	Chunks    int   // complete chunks
	Pinned    int   // complete chunks with at least one pin
	LocalOnly int   // chunks in custody here that no other device is known to keep
	Custody   int64 // stored bytes of chunks in this device's custody (never evicted)
}

// Store is the content-addressed chunk store. Its methods are safe for
// concurrent use.
type Store struct {
	dir      string
	capacity int64
	log      *slog.Logger
	db       *bolt.DB
	codecs   *codecs
	cache    *memCache
	epoch    uint32
	seq      atomic.Uint32 // low half of tokens
	dirMade  [256]atomic.Bool

	// life is read-held by every operation and write-held by Close, so
	// Close waits for operations in flight and later ones see closed.
	life   sync.RWMutex
	closed bool // guarded by life

	mu        sync.Mutex // guards the fields below; never held across I/O
	entries   map[ID]*entry
	lru       *list.List // IDs of complete chunks, most recently used first
	busy      map[ID]chan struct{}
	dirty     map[ID]struct{} // atime changed since the last flush
	used      int64           // stored bytes of complete chunks
	reserved  int64           // stored bytes of writes between reserve and install
	nChunks   int
	nPinned   int
	nLocal    int
	nCustody  int64           // stored bytes in custody
	releasing map[ID]struct{} // custody releases waiting for another device's confirmation

	handOff func(need int64)

	// Deferred durability of local writes (durable.go).
	journal  *journal.Journal
	syncMu   sync.Mutex      // one Sync at a time
	unsynced map[ID]struct{} // put, journaled, file and record not yet durable; guarded by mu
	flight   *syncFlight     // the Sync in progress; guarded by mu

	stop chan struct{} // closed by Close: stops the atime flusher
	done chan struct{} // closed by the atime flusher when it returns

	// Collection (sweep.go, pressure.go).
	gc           collectGuard
	mark         func(keep func(ID)) error
	relieve      func(need int64) bool
	fetchedGrace time.Duration
	keepUnrepl   bool
	verify       func(ids []ID) []ID
}

// Open opens (creating if needed) the store in opts.Dir and starts a new
// process epoch: in-progress states of an earlier process read as missing.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("open chunk store: no directory given")
	}
	if opts.Capacity < 0 {
		return nil, fmt.Errorf("open chunk store %s: negative capacity %d", opts.Dir, opts.Capacity)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mem := opts.MemCache
	if mem == 0 {
		mem = DefaultMemCache
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("open chunk store: %w", err)
	}
	dbPath := filepath.Join(opts.Dir, "index.db")
	db, err := bolt.Open(dbPath, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open chunk store: %s is locked by another process", dbPath)
	}
	if err != nil {
		return nil, fmt.Errorf("open chunk store: %s: %w", dbPath, err)
	}
	s := &Store{
		dir:       opts.Dir,
		capacity:  opts.Capacity,
		log:       log,
		db:        db,
		cache:     newMemCache(mem),
		entries:   make(map[ID]*entry),
		lru:       list.New(),
		busy:      make(map[ID]chan struct{}),
		dirty:     make(map[ID]struct{}),
		releasing: make(map[ID]struct{}),
		unsynced:  make(map[ID]struct{}),
		handOff:   opts.HandOff,
		stop:      make(chan struct{}),
		done:      make(chan struct{}),

		mark:         opts.Mark,
		relieve:      opts.Relieve,
		fetchedGrace: cmp.Or(opts.FetchedGrace, DefaultFetchedGrace),
		keepUnrepl:   opts.KeepUnreplicated,
		verify:       opts.Verify,
	}
	if s.codecs, err = newCodecs(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open chunk store: %w", err)
	}
	if err := s.load(); err != nil {
		db.Close()
		if s.journal != nil {
			s.journal.Close()
		}
		return nil, fmt.Errorf("open chunk store %s: %w", opts.Dir, err)
	}
	go s.flushLoop()
	log.Debug("chunk store open", "dir", opts.Dir, "epoch", s.epoch, "chunks", s.nChunks, "used", s.used, "capacity", s.capacity)
	return s, nil
}

// load bumps the epoch, reads the index into memory, drops in-progress
// states of earlier processes and reconciles the chunk files.
func (s *Store) load() error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if s.epoch, err = bumpEpoch(tx); err != nil {
			return err
		}
		b := tx.Bucket(bucketChunks)
		var drop []ID
		var rewrite []ID
		err = b.ForEach(func(k, v []byte) error {
			var id ID
			if len(k) != len(id) {
				s.log.Warn("dropping malformed chunk index key", "key", fmt.Sprintf("%x", k))
				return nil // deleting inside ForEach is not allowed; such keys are inert
			}
			copy(id[:], k)
			e, err := decodeEntry(v)
			if err != nil {
				s.log.Warn("dropping malformed chunk index record", "chunk", id.Short())
				drop = append(drop, id)
				return nil
			}
			if e.state == InProgress { // an earlier process: the fetch died with it
				e.state, e.token = Missing, 0
				if e.empty() {
					drop = append(drop, id)
					return nil
				}
				rewrite = append(rewrite, id)
			}
			s.entries[id] = e
			return nil
		})
		if err != nil {
			return err
		}
		for _, id := range drop {
			if err := b.Delete(id[:]); err != nil {
				return err
			}
		}
		for _, id := range rewrite {
			if err := b.Put(id[:], s.entries[id].encode()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load index: %w", err)
	}
	if err := s.openJournal(); err != nil {
		return fmt.Errorf("chunk journal: %w", err)
	}
	lost, err := s.scanFiles()
	if err != nil {
		return fmt.Errorf("scan chunk files: %w", err)
	}
	for _, id := range lost {
		s.log.Warn("chunk file lost; marking the chunk missing", "chunk", id.Short())
		ne := s.entries[id].clone()
		ne.state, ne.codec, ne.size, ne.stored = Missing, CodecNone, 0, 0
		if err := s.persist(id, ne); err != nil {
			return err
		}
		if ne.empty() {
			delete(s.entries, id)
		} else {
			s.entries[id] = ne
		}
	}
	var complete []ID
	for id, e := range s.entries {
		if e.state == Complete {
			complete = append(complete, id)
		}
		s.account(e, 1)
	}
	slices.SortFunc(complete, func(a, b ID) int { return cmp.Compare(s.entries[a].atime, s.entries[b].atime) })
	for _, id := range complete {
		s.entries[id].elem = s.lru.PushFront(id)
	}
	return nil
}

func (s *Store) flushLoop() {
	defer close(s.done)
	t := time.NewTicker(atimeFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.flushAtimes(); err != nil {
				s.log.Warn("saving chunk access times", "err", err)
			}
		}
	}
}

// Close waits for operations in flight, saves access times and closes the
// index. Later calls return ErrClosed.
func (s *Store) Close() error {
	s.life.Lock()
	if s.closed {
		s.life.Unlock()
		return nil
	}
	s.closed = true
	s.life.Unlock()
	close(s.stop)
	<-s.done
	err := s.syncPending()
	if ferr := s.flushAtimes(); err == nil {
		err = ferr
	}
	if cerr := s.journal.Close(); err == nil {
		err = cerr
	}
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	s.codecs.close()
	if err != nil {
		return fmt.Errorf("close chunk store %s: %w", s.dir, err)
	}
	return nil
}

// enter marks an operation in flight; every successful enter is paired
// with leave. Operations never call enter twice (Close would deadlock).
func (s *Store) enter() error {
	s.life.RLock()
	if s.closed {
		s.life.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *Store) leave() { s.life.RUnlock() }

// lockID serializes operations on one chunk: file and index changes of an
// id never interleave. An operation holds at most one id at a time, so
// waits cannot cycle.
func (s *Store) lockID(id ID) {
	for {
		s.mu.Lock()
		ch, ok := s.busy[id]
		if !ok {
			s.busy[id] = make(chan struct{})
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		<-ch
	}
}

func (s *Store) unlockID(id ID) {
	s.mu.Lock()
	close(s.busy[id])
	delete(s.busy, id)
	s.mu.Unlock()
}

// snapshot returns a private copy of id's entry, or a fresh missing one.
func (s *Store) snapshot(id ID) *entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entries[id]; e != nil {
		return e.clone()
	}
	return &entry{state: Missing}
}

// commit persists ne as id's record and installs it in memory. The caller
// holds lockID(id).
func (s *Store) commit(id ID, ne *entry) error {
	if err := s.persist(id, ne); err != nil {
		return err
	}
	s.mu.Lock()
	s.install(id, ne)
	s.mu.Unlock()
	return nil
}

// install replaces id's in-memory entry with ne (nil or empty: forget it),
// keeping the counters, the LRU and in-progress waiters right. s.mu is held.
func (s *Store) install(id ID, ne *entry) {
	old := s.entries[id]
	var elem *list.Element
	if old != nil {
		s.account(old, -1)
		elem = old.elem
		if old.progress != nil && (ne == nil || ne.progress != old.progress) {
			close(old.progress)
		}
	}
	if ne == nil || ne.empty() {
		if elem != nil {
			s.lru.Remove(elem)
		}
		delete(s.entries, id)
		delete(s.dirty, id)
		return
	}
	switch {
	case ne.state != Complete && elem != nil:
		s.lru.Remove(elem)
		elem = nil
	case ne.state == Complete && elem == nil:
		elem = s.lru.PushFront(id)
	}
	ne.elem = elem
	s.entries[id] = ne
	s.account(ne, 1)
}

func (s *Store) account(e *entry, sign int) {
	if e.state != Complete {
		return
	}
	s.used += int64(sign) * e.stored
	s.nChunks += sign
	if e.pins > 0 {
		s.nPinned += sign
	}
	if e.localOnly() {
		s.nLocal += sign
	}
	if e.custody() {
		s.nCustody += int64(sign) * e.stored
	}
}

// touch records an access to a complete chunk. s.mu is held.
func (s *Store) touch(id ID, e *entry) {
	e.atime = time.Now().UnixNano()
	if e.elem != nil {
		s.lru.MoveToFront(e.elem)
	}
	s.dirty[id] = struct{}{}
}

// Status returns id's state. In-progress states of an earlier process read
// as Missing.
func (s *Store) Status(id ID) (State, error) {
	if err := s.enter(); err != nil {
		return Missing, err
	}
	defer s.leave()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[id]
	if e == nil || (e.state == InProgress && e.token.epoch() != s.epoch) {
		return Missing, nil
	}
	return e.state, nil
}

// Begin starts a fetch of id and returns its token. It returns ErrComplete
// when the chunk is already stored and ErrInProgress when another fetch
// holds a current token.
func (s *Store) Begin(id ID) (Token, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	s.lockID(id)
	defer s.unlockID(id)
	ne := s.snapshot(id)
	switch {
	case ne.state == Complete:
		return 0, fmt.Errorf("begin chunk %s: %w", id.Short(), ErrComplete)
	case ne.state == InProgress && ne.token.epoch() == s.epoch:
		return 0, fmt.Errorf("begin chunk %s: %w", id.Short(), ErrInProgress)
	}
	ne.state = InProgress
	ne.token = Token(uint64(s.epoch)<<32 | uint64(s.seq.Add(1)))
	ne.progress = make(chan struct{})
	s.installOnly(id, ne)
	return ne.token, nil
}

// installOnly installs ne without writing the index: an in-progress state
// means nothing to a later process (its epoch makes it read as missing),
// so Begin and Cancel cost no bbolt transaction. The caller holds
// lockID(id).
func (s *Store) installOnly(id ID, ne *entry) {
	s.mu.Lock()
	s.install(id, ne)
	s.mu.Unlock()
}

// Cancel ends the fetch of id holding t; the chunk is missing again. It is
// a no-op unless t is the chunk's current token.
func (s *Store) Cancel(id ID, t Token) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	s.lockID(id)
	defer s.unlockID(id)
	ne := s.snapshot(id)
	if ne.state != InProgress || ne.token != t {
		return nil
	}
	ne.state, ne.token, ne.progress = Missing, 0, nil
	s.installOnly(id, ne)
	return nil
}

// awaitProgress waits until id is no longer in progress in this process.
func (s *Store) awaitProgress(done <-chan struct{}, id ID) bool {
	s.mu.Lock()
	var ch chan struct{}
	if e := s.entries[id]; e != nil && e.state == InProgress {
		ch = e.progress
	}
	s.mu.Unlock()
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	case <-done:
		return false
	}
}

// Write stores plain as chunk id, ending the fetch holding t: WriteVerified
// of Verify(id, CodecNone, plain). When plain does not hash to id it
// returns ErrCorrupt, stores nothing and the fetch keeps its token.
func (s *Store) Write(id ID, t Token, plain []byte) error {
	v, err := Verify(id, CodecNone, plain)
	if err != nil {
		return err
	}
	return s.WriteVerified(t, v)
}

// WriteVerified stores a fetched chunk in the form it travelled in, ending
// the fetch of v.ID() holding t. Verify already checked it, so it is not
// hashed again, and a zstd form is written as it came, not decoded and
// compressed again. It returns ErrStaleToken when t is not current and an
// error wrapping ErrFull when there is no room. A written chunk is a cached
// copy of another device's: evictable until Keep takes custody of it.
func (s *Store) WriteVerified(t Token, v Verified) error {
	if v.plain == nil && v.stored == nil {
		return errors.New("write chunk: a zero Verified (use Verify)")
	}
	c, stored := v.codec, v.stored
	if c == CodecZstd && !worthIt(len(stored), len(v.plain)) {
		c, stored = CodecNone, v.plain
	}
	return s.withRoom(int64(len(stored)), func() error {
		return s.writeStored(v.id, t, c, stored, int64(len(v.plain)))
	})
}

func (s *Store) writeStored(id ID, t Token, c Codec, stored []byte, size int64) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	s.lockID(id)
	defer s.unlockID(id)
	prev := s.snapshot(id)
	if prev.state != InProgress || prev.token != t {
		return fmt.Errorf("write chunk %s (%s): %w", id.Short(), prev.state, ErrStaleToken)
	}
	// The index update shares a bbolt transaction with concurrent fetches
	// (read-ahead, prefetch): one commit for many chunks.
	return s.storeChunk(id, prev, c, stored, size, true, func(ne *entry) { ne.flags |= flagFetched })
}

// storeChunk makes room, writes the chunk file and commits the chunk as
// complete; deferred leaves the file unsynced and the record to the next
// Sync (durable.go). The caller holds lockID(id); prev is its snapshot.
func (s *Store) storeChunk(id ID, prev *entry, c Codec, stored []byte, size int64, deferred bool, modify func(*entry)) error {
	n := int64(len(stored))
	victims, err := s.reserveRelieved(id, n)
	if err != nil {
		return fmt.Errorf("store chunk %s: %w", id.Short(), err)
	}
	s.evict(victims)
	installed := false
	defer func() {
		if !installed {
			s.mu.Lock()
			s.reserved -= n
			s.mu.Unlock()
		}
	}()
	if err := s.writeChunkFile(id, stored, !deferred); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	ne := prev.clone()
	ne.state, ne.codec, ne.size, ne.stored = Complete, c, size, n
	ne.atime = time.Now().UnixNano()
	ne.token, ne.progress = 0, nil
	if modify != nil {
		modify(ne)
	}
	if deferred {
		err = s.deferPut(id, ne, n)
	} else if err = s.persist(id, ne); err == nil {
		s.mu.Lock()
		s.installStored(id, ne, n)
		s.mu.Unlock()
	}
	if err != nil {
		_ = s.removeChunkFile(id)
		return fmt.Errorf("store: %w", err)
	}
	installed = true
	return nil
}

// installStored installs a chunk storeChunk wrote, whose n bytes were
// reserved. s.mu is held.
func (s *Store) installStored(id ID, ne *entry, n int64) {
	s.reserved -= n
	s.install(id, ne)
}

// Put stores plain as a local write and returns its ID. The chunk is in
// this device's custody: never evicted until a release to another device
// is confirmed. Putting a complete chunk takes custody of it. It returns an
// error wrapping ErrFull (and syscall.ENOSPC) when nothing can be evicted
// to make room; then nothing is stored.
func (s *Store) Put(plain []byte) (ID, error) {
	if len(plain) > MaxChunk {
		return ID{}, fmt.Errorf("put chunk: %d bytes, more than the %d-byte maximum chunk", len(plain), MaxChunk)
	}
	id := Sum(plain)
	return id, s.withRoom(int64(len(plain)), func() error { return s.put(id, plain, false) })
}

// put is Put of plain whose ID the caller computed. deferred leaves the
// chunk's durability to the next Sync (PutStream, durable.go).
func (s *Store) put(id ID, plain []byte, deferred bool) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	s.gc.note(id) // before the chunk exists: a sweep spares it (sweep.go)
	s.lockID(id)
	defer s.unlockID(id)
	prev := s.snapshot(id)
	if prev.state == Complete {
		if !prev.custody() {
			// A cached copy now backs a local write: keep it.
			prev.flags |= flagCustody
			prev.atime = time.Now().UnixNano()
			return s.commit(id, prev)
		}
		s.mu.Lock()
		if e := s.entries[id]; e != nil {
			s.touch(id, e)
		}
		s.mu.Unlock()
		return nil
	}
	c, stored, release := s.codecs.encode(plain)
	defer release()
	return s.storeChunk(id, prev, c, stored, int64(len(plain)), deferred, func(ne *entry) {
		ne.flags &^= flagFetched
		ne.flags |= flagCustody
	})
}

// withRoom runs write; when it fails for want of room even after Relieve,
// it asks HandOff to make some and runs it once more.
func (s *Store) withRoom(need int64, write func() error) error {
	err := write()
	if s.handOff == nil || !errors.Is(err, ErrFull) {
		return err
	}
	s.handOff(need)
	return write()
}

// Remove forgets id: its bytes, state, pins and holders. Removing an
// unknown chunk is a no-op; a fetch in progress gets ErrStaleToken.
func (s *Store) Remove(id ID) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	s.lockID(id)
	defer s.unlockID(id)
	prev := s.snapshot(id)
	if prev.state == Missing && prev.empty() {
		return nil
	}
	if err := s.persist(id, nil); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	s.mu.Lock()
	s.install(id, nil)
	s.mu.Unlock()
	s.cache.remove(id)
	if prev.state == Complete {
		if err := s.removeChunkFile(id); err != nil {
			return fmt.Errorf("remove: %w", err)
		}
	}
	return nil
}

// Usage reports how full the store is.
func (s *Store) Usage() Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Usage{Used: s.used, Capacity: s.capacity, Chunks: s.nChunks, Pinned: s.nPinned, LocalOnly: s.nLocal, Custody: s.nCustody}
}
