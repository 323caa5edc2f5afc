package meta

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/internal/journal"
)

// Buckets of meta.db.
var (
	// files: path → encoded current FileVersion (tombstones included),
	// stored without its path (storedForm; databases written before
	// stored it whole, still read).
	bucketFiles = []byte("files")
	// history: path 0x00 BE64(history id) → encoded FileVersion, every
	// version kept, stored without its path as in files.
	bucketHistory = []byte("history")
	// index: BE64(position) → history key; this device's index, in order.
	bucketIndex = []byte("index")
	// devices: device → BE64(highest index position merged from it)
	// [BE64(the epoch it was merged under), see epoch.go].
	bucketDevices = []byte("devices")
	// local: this device's id, counters and stats (see key* below).
	bucketLocal = []byte("local")
	// seen: origin 0x00 BE64(seq) first 16 bytes of BLAKE3(encoded
	// version) → BE64(history id) (the version's path completes its
	// history key; databases written before hold the whole history key):
	// recognises versions already recorded, so a version received twice is
	// skipped. Keys grow with each device's sequence, so inserts append
	// instead of dirtying pages all over.
	bucketSeen = []byte("seen")
	// frontier: path → BE64 history ids of the versions of path that no
	// other dominates, present only while there are two or more (after a
	// conflict); see merge.go.
	bucketFrontier = []byte("frontier")
)

// Keys of the local bucket.
var (
	keyDevice   = []byte("device")
	keySeq      = []byte("seq")   // highest counter of this device given out or seen (clock.go)
	keyPos      = []byte("pos")   // last index position given out
	keyFiles    = []byte("files") // Stats.Files
	keyDirs     = []byte("dirs")
	keyBytes    = []byte("bytes")
	keyVersions = []byte("versions")
)

// DB is the history store of one device, backed by a bbolt file. Local
// commits are group-committed (batch.go); every other write is synced
// before it returns. Its methods are safe for concurrent use.
type DB struct {
	device string
	log    *slog.Logger
	bolt   *bolt.DB
	closed atomic.Bool
	clock  func() time.Time // Options.Now; nil = time.Now
	epoch  Epoch            // this opening's (epoch.go)

	beforeCommit func() error // Options.BeforeCommit
	onDurable    func()       // Options.Durable
	commitDelay  time.Duration
	journal      *journal.Journal

	flushMu sync.Mutex // one flush at a time; taken before mu
	// mu guards the fields below. While a batch is open every read and
	// write goes through it under mu.
	mu        sync.Mutex
	batch     *bolt.Tx             // open write transaction of local commits not yet durable; nil when none
	batchRecs [][]byte             // the journal records of the batch, in order
	batchLen  int                  // versions in the batch
	pending   map[string]pendingAt // path → its newest version in the batch

	kick, now1, durable chan struct{} // wake the commit loop: a batch opened, is full, became durable
	stop, loopDone      chan struct{}
}

// Open opens (creating if needed) the history store at path for device
// opts.Device. A meta.db made by another device is refused.
func Open(path string, opts Options) (*DB, error) {
	if err := validDevice(opts.Device); err != nil {
		return nil, fmt.Errorf("open meta %s: %w", path, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      2 * time.Second,
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("open meta %s: %w", path, err)
	}
	epoch := Epoch{ID: newEpochID()}
	err = bdb.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketFiles, bucketHistory, bucketIndex, bucketDevices, bucketLocal, bucketSeen, bucketFrontier} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		local := tx.Bucket(bucketLocal)
		if b := local.Get(keyPos); len(b) == 8 {
			epoch.Base = binary.BigEndian.Uint64(b)
		}
		switch dev := local.Get(keyDevice); {
		case dev == nil:
			return local.Put(keyDevice, []byte(opts.Device))
		case string(dev) != opts.Device:
			return fmt.Errorf("it belongs to device %s, not %s", dev, opts.Device)
		}
		return nil
	})
	if err != nil {
		bdb.Close()
		return nil, fmt.Errorf("open meta %s: %w", path, err)
	}
	db := &DB{
		device: opts.Device, log: log.With("device", opts.Device), bolt: bdb, clock: opts.Now, epoch: epoch,
		beforeCommit: opts.BeforeCommit, onDurable: opts.Durable,
		commitDelay: cmp.Or(opts.CommitDelay, DefaultCommitDelay),
		pending:     make(map[string]pendingAt),
		kick:        make(chan struct{}, 1), now1: make(chan struct{}, 1), durable: make(chan struct{}, 1),
		stop: make(chan struct{}), loopDone: make(chan struct{}),
	}
	if err := db.openJournal(path); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("open meta %s: %w", path, err)
	}
	go db.commitLoop()
	return db, nil
}

// Close makes every commit durable and closes the store; later calls
// return ErrClosed.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return ErrClosed
	}
	close(db.stop)
	<-db.loopDone
	err := db.flush()
	if err == nil {
		err = db.journal.Close()
	} else {
		db.journal.Close()
	}
	if cerr := db.bolt.Close(); err == nil {
		err = cerr
	}
	return err
}

// Device returns this device's id.
func (db *DB) Device() string { return db.device }

// view reads the newest state: through the open batch when there is one,
// else in a read transaction of its own, begun under mu so that it sees
// every commit that returned before it.
func (db *DB) view(fn func(t *txn) error) error {
	if db.closed.Load() {
		return ErrClosed
	}
	db.mu.Lock()
	if db.batch != nil {
		defer db.mu.Unlock()
		return fn(db.newTxn(db.batch))
	}
	tx, err := db.bolt.Begin(false)
	db.mu.Unlock()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(db.newTxn(tx))
}

// viewDurable reads the last durable state: what peers may see.
func (db *DB) viewDurable(fn func(t *txn) error) error {
	if db.closed.Load() {
		return ErrClosed
	}
	return db.bolt.View(func(tx *bolt.Tx) error { return fn(db.newTxn(tx)) })
}

// update runs a write other than a local commit: the open batch is made
// durable first, then fn runs in a synced transaction of its own.
func (db *DB) update(fn func(t *txn) error) error {
	if db.closed.Load() {
		return ErrClosed
	}
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.flushLocked(); err != nil {
		return err
	}
	var local bool
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		t := db.newTxn(tx)
		if err := fn(t); err != nil {
			return err
		}
		local = len(t.made) > 0
		return t.save()
	})
	if err == nil && local {
		db.kickFlusher(db.durable) // a restore: announce it like a batch
	}
	return err
}

// Lookup returns the live version of path; ErrNotFound if absent or
// deleted. Lookup("") returns a directory standing for the root.
func (db *DB) Lookup(p string) (FileVersion, error) {
	if p == "" {
		return FileVersion{Kind: KindDir, Mode: 0o755}, nil
	}
	if err := ValidatePath(p); err != nil {
		return FileVersion{}, fmt.Errorf("lookup: %w", err)
	}
	var v FileVersion
	err := db.view(func(t *txn) error {
		cur, ok, err := t.current(p)
		if err != nil {
			return err
		}
		if !ok || cur.Deleted {
			return ErrNotFound
		}
		v = cur
		return nil
	})
	if err != nil {
		return FileVersion{}, fmt.Errorf("lookup %q: %w", p, err)
	}
	return v, nil
}

// List returns the live children of dir ("" = root), sorted by name.
// ErrNotFound if dir is not live, ErrNotDir if it is not a directory.
func (db *DB) List(dir string) ([]FileVersion, error) {
	if err := validDir(dir); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	var out []FileVersion
	err := db.view(func(t *txn) error {
		if err := t.checkDir(dir); err != nil {
			return err
		}
		return t.children(dir, func(v FileVersion) error {
			if !v.Deleted {
				out = append(out, v)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", dir, err)
	}
	return out, nil
}

// filesPage is how many current versions (tombstones included) LiveFiles
// reads per transaction.
const filesPage = 1000

// LiveFiles calls fn for every live regular file, in path order. It reads
// pages of filesPage versions, one read transaction each, so a walk of a
// big tree never holds one transaction long (a writer that grows the file
// waits for every open one); fn runs outside any transaction. A change
// committed during the walk may or may not be seen. An error from fn stops
// the walk and is returned.
func (db *DB) LiveFiles(fn func(FileVersion) error) error {
	var after []byte
	for {
		var page []FileVersion
		err := db.view(func(t *txn) error {
			c := t.files.Cursor()
			k, val := c.First()
			if after != nil {
				k, val = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, val = c.Next()
				}
			}
			for n := 0; k != nil && n < filesPage; k, val = c.Next() {
				n++
				v, err := decodeStored(val, string(k))
				if err != nil {
					return fmt.Errorf("current version of %q: %w", k, err)
				}
				if v.Live() && v.Kind == KindFile {
					page = append(page, v)
				}
				after = append(after[:0], k...)
			}
			if k == nil {
				after = nil
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("live files: %w", err)
		}
		for _, v := range page {
			if err := fn(v); err != nil {
				return err
			}
		}
		if after == nil {
			return nil
		}
	}
}

// History returns every version of path recorded here, oldest first;
// ErrNotFound if there is none.
func (db *DB) History(p string) ([]FileVersion, error) {
	if err := ValidatePath(p); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	var out []FileVersion
	err := db.view(func(t *txn) error {
		var err error
		out, err = t.history(p)
		return err
	})
	if err == nil && len(out) == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("history %q: %w", p, err)
	}
	return out, nil
}

// IndexSeq returns the position of the newest record in this device's
// index (0 when empty or closed), pending local commits included: a peer
// that asks Since for it gets them, durable by then.
func (db *DB) IndexSeq() uint64 {
	var pos uint64
	_ = db.view(func(t *txn) error {
		pos = t.getUint(keyPos)
		return nil
	})
	return pos
}

// DefaultPage is the page size Since uses when limit ≤ 0.
const DefaultPage = 1000

// Since pages out this device's index: every version it recorded (local or
// merged) after position pos, in order, at most limit of them (limit ≤ 0:
// DefaultPage). next is the position of the last version returned (pos
// when there is none): pass it to the next call, and to Merge as upTo.
//
// Peers page through it, and no version that could still be lost here
// may reach them: Since first makes pending local commits durable
// (batch.go).
func (db *DB) Since(pos uint64, limit int) (vs []FileVersion, next uint64, err error) {
	if err := db.flush(); err != nil {
		return nil, pos, fmt.Errorf("since %d: %w", pos, err)
	}
	if limit <= 0 {
		limit = DefaultPage
	}
	if last := db.IndexSeq(); pos > last && !db.closed.Load() {
		// The asker saw positions this index no longer has: this state
		// dir was restored from an older copy, and the wall clock (which
		// positions follow) has not passed them, or went back. Positions
		// given out from now on continue above pos, and the asker gets the
		// whole index again (it skips what it has), so nothing recorded
		// here since the restore hides below its position.
		err := db.update(func(t *txn) error {
			t.pos = max(t.pos, pos)
			return nil
		})
		if err != nil {
			return nil, pos, fmt.Errorf("since %d: %w", pos, err)
		}
		db.log.Warn("a peer asked for index positions past this device's newest; serving the whole index again (state restored from an older copy?)", "asked", pos, "newest", last)
		pos = 0
	}
	next = pos
	err = db.viewDurable(func(t *txn) error {
		c := t.index.Cursor()
		for k, hkey := c.Seek(be64(pos + 1)); k != nil && len(vs) < limit; k, hkey = c.Next() {
			next = binary.BigEndian.Uint64(k)
			b := t.historyB.Get(hkey)
			if b == nil {
				continue // pruned (retention.go)
			}
			v, err := decodeStored(b, historyPath(hkey))
			if err != nil {
				return fmt.Errorf("history record %x: %w", hkey, err)
			}
			vs = append(vs, v)
		}
		return nil
	})
	if err != nil {
		return nil, pos, fmt.Errorf("since %d: %w", pos, err)
	}
	return vs, next, nil
}

// PeerPos returns the highest index position merged from device (0 if
// none yet).
func (db *DB) PeerPos(device string) (uint64, error) {
	var pos uint64
	err := db.view(func(t *txn) error {
		pos, _ = t.peerPos(device)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("peer position of %s: %w", device, err)
	}
	return pos, nil
}

// Stats summarises the live tree and the history (zero when closed).
func (db *DB) Stats() Stats {
	var s Stats
	_ = db.view(func(t *txn) error {
		s = t.stats
		return nil
	})
	return s
}

// Refs calls fn once for every distinct chunk referenced by a kept
// version, current or in history: the mark of chunk collection. fn runs
// outside any transaction, so it may use the chunk store freely; an error
// from fn stops the walk and is returned.
func (db *DB) Refs(fn func(chunks.ID) error) error {
	seen := make(map[chunks.ID]struct{})
	var ids []chunks.ID
	err := db.view(func(t *txn) error {
		for _, b := range []*bolt.Bucket{t.historyB, t.files} {
			err := b.ForEach(func(k, val []byte) error {
				v, err := decodeStored(val, "") // chunks only
				if err != nil {
					return fmt.Errorf("version record %x: %w", k, err)
				}
				for _, r := range v.Chunks {
					if _, ok := seen[r.ID]; !ok {
						seen[r.ID] = struct{}{}
						ids = append(ids, r.ID)
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("refs: %w", err)
	}
	for _, id := range ids {
		if err := fn(id); err != nil {
			return err
		}
	}
	return nil
}

// txn wraps one bbolt transaction with the store's record-keeping.
type txn struct {
	db                                                     *DB
	tx                                                     *bolt.Tx
	files, historyB, index, devices, local, seen, frontier *bolt.Bucket
	stats                                                  Stats
	seq, pos                                               uint64
	// dirs caches paths checked to be live directories in this
	// transaction; setCurrent drops a path from it.
	dirs map[string]bool
	// noFrontier: 0 unknown, 1 the frontier bucket is empty, 2 it is not.
	noFrontier int
	last       lastCurrent
	made       []made // local versions this transaction made (batch.go)
}

func (db *DB) newTxn(tx *bolt.Tx) *txn {
	t := &txn{
		db:       db,
		tx:       tx,
		files:    tx.Bucket(bucketFiles),
		historyB: tx.Bucket(bucketHistory),
		index:    tx.Bucket(bucketIndex),
		devices:  tx.Bucket(bucketDevices),
		local:    tx.Bucket(bucketLocal),
		seen:     tx.Bucket(bucketSeen),
		frontier: tx.Bucket(bucketFrontier),
	}
	if tx.Writable() {
		// These buckets only grow at their end: pack their pages.
		t.index.FillPercent = 1
		t.seen.FillPercent = 0.95
		// These mostly take runs of neighbouring keys (a directory's files,
		// a batch of an import or a peer's page): bbolt's default split at
		// half a page would leave every page of them half empty.
		t.files.FillPercent = 0.9
		t.historyB.FillPercent = 0.9
	}
	t.seq = t.getUint(keySeq)
	t.pos = t.getUint(keyPos)
	t.stats = Stats{
		Files:    int(t.getUint(keyFiles)),
		Dirs:     int(t.getUint(keyDirs)),
		Bytes:    int64(t.getUint(keyBytes)),
		Versions: int(t.getUint(keyVersions)),
	}
	return t
}

func (t *txn) getUint(key []byte) uint64 {
	if b := t.local.Get(key); len(b) == 8 {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// save writes the counters back (writable transactions only).
func (t *txn) save() error {
	for _, kv := range []struct {
		k []byte
		v uint64
	}{
		{keySeq, t.seq}, {keyPos, t.pos},
		{keyFiles, uint64(t.stats.Files)}, {keyDirs, uint64(t.stats.Dirs)},
		{keyBytes, uint64(t.stats.Bytes)}, {keyVersions, uint64(t.stats.Versions)},
	} {
		if t.getUint(kv.k) == kv.v {
			continue
		}
		if err := t.local.Put(kv.k, be64(kv.v)); err != nil {
			return err
		}
	}
	return nil
}

// current returns the current version of p, tombstones included.
func (t *txn) current(p string) (FileVersion, bool, error) {
	if t.last.valid && t.last.path == p {
		return t.last.v, t.last.ok, nil
	}
	b := t.files.Get([]byte(p))
	if b == nil {
		t.last = lastCurrent{valid: true, path: p}
		return FileVersion{}, false, nil
	}
	v, err := decodeStored(b, p)
	if err != nil {
		return FileVersion{}, false, fmt.Errorf("current version of %q: %w", p, err)
	}
	t.last = lastCurrent{valid: true, path: p, v: v, ok: true}
	return v, true, nil
}

// lastCurrent remembers the last current version read or written, as a
// change usually reads a path, then writes it.
type lastCurrent struct {
	valid, ok bool
	path      string
	v         FileVersion
}

// live returns the current version of p if it is live.
func (t *txn) live(p string) (FileVersion, bool, error) {
	v, ok, err := t.current(p)
	if err != nil || !ok || v.Deleted {
		return FileVersion{}, false, err
	}
	return v, true, nil
}

// checkDir returns nil if dir ("" = root) is a live directory.
func (t *txn) checkDir(dir string) error {
	if dir == "" || t.dirs[dir] {
		return nil
	}
	v, ok, err := t.live(dir)
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("%q: %w", dir, ErrNotFound)
	case v.Kind != KindDir:
		return fmt.Errorf("%q: %w", dir, ErrNotDir)
	}
	if t.dirs == nil {
		t.dirs = make(map[string]bool)
	}
	t.dirs[dir] = true
	return nil
}

// children calls fn for every current version (tombstones included) whose
// parent is dir, in name order, skipping over deeper subtrees.
func (t *txn) children(dir string, fn func(FileVersion) error) error {
	prefix := []byte(dir)
	if dir != "" {
		prefix = append(prefix, '/')
	}
	c := t.files.Cursor()
	for k, val := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); {
		rest := k[len(prefix):]
		if i := bytes.IndexByte(rest, '/'); i >= 0 {
			// A descendant whose parent has no record of its own, or the
			// subtree of a child: jump past every key under prefix+rest[:i]+"/".
			skip := append(append([]byte{}, k[:len(prefix)+i]...), '/'+1)
			k, val = c.Seek(skip)
			continue
		}
		v, err := decodeStored(val, string(k))
		if err != nil {
			return fmt.Errorf("current version of %q: %w", k, err)
		}
		if err := fn(v); err != nil {
			return err
		}
		k, val = c.Next()
	}
	return nil
}

// descendants calls fn for every current version strictly inside dir,
// tombstones included, in key order (a directory before its contents).
func (t *txn) descendants(dir string, fn func(FileVersion) error) error {
	prefix := []byte(dir + "/")
	c := t.files.Cursor()
	for k, val := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, val = c.Next() {
		v, err := decodeStored(val, string(k))
		if err != nil {
			return fmt.Errorf("current version of %q: %w", k, err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

var errStop = errors.New("stop")

// hasLiveChildren reports whether dir has a live entry inside it.
func (t *txn) hasLiveChildren(dir string) (bool, error) {
	found := false
	err := t.descendants(dir, func(v FileVersion) error {
		if !v.Deleted {
			found = true
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return found, err
}

func historyPrefix(p string) []byte {
	return append([]byte(p), 0)
}

// history returns every recorded version of p, oldest first.
func (t *txn) history(p string) ([]FileVersion, error) {
	var out []FileVersion
	prefix := historyPrefix(p)
	c := t.historyB.Cursor()
	for k, val := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, val = c.Next() {
		v, err := decodeStored(val, p)
		if err != nil {
			return nil, fmt.Errorf("history of %q: %w", p, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func (t *txn) historyAt(hkey []byte) (FileVersion, error) {
	b := t.historyB.Get(hkey)
	if b == nil {
		return FileVersion{}, fmt.Errorf("index points at missing history record %x", hkey)
	}
	return decodeStored(b, historyPath(hkey))
}

// historyPath returns the path of a history key (path 0x00 BE64(id)).
func historyPath(hkey []byte) string {
	return string(hkey[:max(0, len(hkey)-9)])
}

// seenKey is the key of v (encoded as enc) in the seen bucket.
func seenKey(v FileVersion, enc []byte) []byte {
	id := chunks.Sum(enc)
	k := make([]byte, 0, len(v.Origin)+1+8+16)
	k = append(append(k, v.Origin...), 0)
	k = binary.BigEndian.AppendUint64(k, v.Seq)
	return append(k, id[:16]...)
}

// known reports whether exactly v is already recorded.
func (t *txn) known(v FileVersion, enc []byte) bool {
	return t.seen.Get(seenKey(v, enc)) != nil
}

// seenID returns the history id of v (encoded as enc) if it is recorded
// and kept in v.Path's history.
func (t *txn) seenID(v FileVersion, enc []byte) (uint64, bool) {
	val := t.seen.Get(seenKey(v, enc))
	if len(val) == 8 {
		return binary.BigEndian.Uint64(val), true
	}
	// The whole history key, as databases written before stored it.
	prefix := historyPrefix(v.Path)
	if len(val) != len(prefix)+8 || !bytes.HasPrefix(val, prefix) {
		return 0, false
	}
	return binary.BigEndian.Uint64(val[len(prefix):]), true
}

// record appends v to the history of its path and, if indexed, to this
// device's index, and returns its history id. enc must be v's encoding
// and stay untouched until the transaction ends.
func (t *txn) record(v FileVersion, enc []byte, indexed bool) (uint64, error) {
	id, err := t.historyB.NextSequence()
	if err != nil {
		return 0, err
	}
	hkey := append(historyPrefix(v.Path), be64(id)...)
	if err := t.historyB.Put(hkey, storedForm(enc)); err != nil {
		return 0, err
	}
	if err := t.seen.Put(seenKey(v, enc), be64(id)); err != nil {
		return 0, err
	}
	t.stats.Versions++
	if indexed {
		if err := t.index.Put(be64(t.nextPos()), hkey); err != nil {
			return 0, err
		}
	}
	return id, nil
}

// setCurrent makes v (encoded as enc) the current version of its path,
// keeping the stats in step. old is the previous current version, if any.
func (t *txn) setCurrent(v FileVersion, enc []byte, old FileVersion, hadOld bool) error {
	if hadOld && !old.Deleted {
		t.count(old, -1)
	}
	if !v.Deleted {
		t.count(v, +1)
	}
	delete(t.dirs, v.Path)
	t.last = lastCurrent{valid: true, path: v.Path, v: v, ok: true}
	return t.files.Put([]byte(v.Path), storedForm(enc))
}

// clearFrontier forgets the frontier of p: v dominates it all. The bucket
// is almost always empty, so that is checked once per transaction.
func (t *txn) clearFrontier(p string) error {
	if t.noFrontier == 0 {
		t.noFrontier = 2
		if k, _ := t.frontier.Cursor().First(); k == nil {
			t.noFrontier = 1
		}
	}
	if t.noFrontier == 1 {
		return nil
	}
	return t.frontier.Delete([]byte(p))
}

func (t *txn) count(v FileVersion, sign int) {
	switch v.Kind {
	case KindDir:
		t.stats.Dirs += sign
	case KindFile:
		t.stats.Files += sign
		t.stats.Bytes += int64(sign) * v.Size
	default:
		t.stats.Files += sign
	}
}

func be64(x uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, x)
}
