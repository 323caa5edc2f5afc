package chunks

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Collection removes complete chunks that no kept version references:
// those of pruned versions, and those a crash leaked between PutStream
// and the meta commit that would have referenced them. Mark and sweep:
// Options.Mark names every chunk a kept version references (meta.DB.Refs),
// and every complete chunk that is not named, not pinned, not being put by
// a local writer, and not fetched (or read) within Options.FetchedGrace is
// removed.
//
// The race: a local writer puts chunks (PutStream) and commits the version
// that references them afterwards; a sweep in between would see them
// unreferenced. Every local writer therefore holds the store (Hold) from
// before PutStream until after its commit. The store remembers every chunk
// put (or found already stored) since the oldest hold still open began, and
// a sweep spares them; while a collection runs nothing is forgotten, so a
// chunk whose version was committed after the mark was taken is spared too.
// Holding never blocks: a writer that runs out of room inside its own hold
// can still collect (pressure.go).
//
// Peers may ask this device to keep chunks of a version whose index page it
// has not merged yet; the grace period for fetched chunks covers that.

// DefaultFetchedGrace is Options.FetchedGrace when 0.
const DefaultFetchedGrace = 10 * time.Minute

// CustodyGrace is how long a replica this device keeps for another device
// survives collection when no version it knows references it: the
// version's index page may arrive long after the replica (the writer went
// offline in between).
const CustodyGrace = 7 * 24 * time.Hour

// collectGuard tracks local puts for collection.
type collectGuard struct {
	mu         sync.Mutex
	seq        uint64            // local puts so far
	nextHold   uint64            // id of the next hold
	holds      map[uint64]uint64 // open holds → seq when they began
	recent     map[ID]uint64     // chunks put locally → seq of their last put
	collecting int               // collections running: recent is not trimmed
	// run lets one collection at a time mark and sweep.
	run sync.Mutex
	// relief lets one writer at a time relieve pressure (pressure.go).
	relief sync.Mutex

	runs, relieved, chunks, bytes atomic.Int64 // for CollectStats
}

// note records a local put of id.
func (g *collectGuard) note(id ID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.recent == nil {
		g.recent = make(map[ID]uint64)
	}
	g.seq++
	g.recent[id] = g.seq
}

// trim forgets the puts no open hold or running collection may need.
// g.mu is held.
func (g *collectGuard) trim() {
	if g.collecting > 0 {
		return
	}
	oldest := g.seq
	for _, start := range g.holds {
		oldest = min(oldest, start)
	}
	for id, seq := range g.recent {
		if seq <= oldest {
			delete(g.recent, id)
		}
	}
}

// Hold protects the chunks local writes put from collection until release
// is called. A writer calls it before PutStream and releases after the meta
// commit that references the chunks (or after giving up). release may be
// called more than once.
func (s *Store) Hold() (release func()) {
	g := &s.gc
	g.mu.Lock()
	if g.holds == nil {
		g.holds = make(map[uint64]uint64)
	}
	g.nextHold++
	h := g.nextHold
	g.holds[h] = g.seq
	g.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			delete(g.holds, h)
			g.trim()
			g.mu.Unlock()
		})
	}
}

// Collected tells what a collection removed (or, dry, would remove).
type Collected struct {
	Chunks int
	Bytes  int64 // stored bytes
}

// CollectStats sums the collections since Open.
type CollectStats struct {
	Runs     int64 // collections (dry runs not counted)
	Relieved int64 // of them, run because a write did not fit (pressure.go)
	Chunks   int64 // chunks removed
	Bytes    int64 // stored bytes freed
}

// CollectStats reports the collections since Open.
func (s *Store) CollectStats() CollectStats {
	g := &s.gc
	return CollectStats{Runs: g.runs.Load(), Relieved: g.relieved.Load(), Chunks: g.chunks.Load(), Bytes: g.bytes.Load()}
}

// Collect removes every complete chunk that Options.Mark does not name and
// nothing else protects (see above). dryRun counts them and removes
// nothing. Without Options.Mark it does nothing.
func (s *Store) Collect(dryRun bool) (Collected, error) {
	if err := s.enter(); err != nil {
		return Collected{}, err
	}
	defer s.leave()
	return s.collect(dryRun)
}

// collect is Collect for callers already inside an operation.
func (s *Store) collect(dryRun bool) (Collected, error) {
	if s.mark == nil {
		return Collected{}, nil
	}
	g := &s.gc
	g.run.Lock()
	defer g.run.Unlock()
	g.mu.Lock()
	g.trim() // puts under no hold are not protected
	g.collecting++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.collecting--
		g.trim()
		g.mu.Unlock()
	}()

	keep := make(map[ID]struct{})
	if err := s.mark(func(id ID) { keep[id] = struct{}{} }); err != nil {
		return Collected{}, fmt.Errorf("collect chunks: mark: %w", err)
	}
	graceStart := time.Now().Add(-s.fetchedGrace).UnixNano()
	custodyStart := time.Now().Add(-max(s.fetchedGrace, CustodyGrace)).UnixNano()
	var vs []victim
	var ask []ID // in custody with known holders: Options.Verify decides
	var out Collected
	g.mu.Lock()
	s.mu.Lock()
	for id, e := range s.entries {
		if e.state != Complete || e.pins > 0 {
			continue
		}
		if _, ok := keep[id]; ok {
			continue
		}
		if _, ok := g.recent[id]; ok {
			continue
		}
		if e.flags&flagFetched != 0 && e.atime > graceStart {
			continue
		}
		if e.custody() && e.flags&flagFetched != 0 && e.atime > custodyStart {
			continue // a replica kept for another device: its version may not be merged yet
		}
		if s.keepUnrepl && e.localOnly() {
			continue // the last copy: other devices may reference it (Options.KeepUnreplicated)
		}
		if _, ok := s.releasing[id]; ok {
			continue
		}
		if _, busy := s.busy[id]; busy {
			continue
		}
		if s.verify != nil && e.custody() && len(e.holders) > 0 {
			ask = append(ask, id)
			continue
		}
		out.Chunks++
		out.Bytes += e.stored
		if !dryRun {
			vs = append(vs, victim{id, e.stored})
			s.busy[id] = make(chan struct{})
			s.install(id, nil)
		}
	}
	s.mu.Unlock()
	g.mu.Unlock()
	if dryRun {
		return out, nil
	}
	s.evict(vs)
	if len(ask) > 0 {
		slices.SortFunc(ask, compareIDs) // one order: the simulator replays it
		for _, id := range s.verify(ask) {
			s.giveUp(id)
		}
	}
	g.runs.Add(1)
	g.chunks.Add(int64(out.Chunks))
	g.bytes.Add(out.Bytes)
	if out.Chunks > 0 {
		s.log.Info("collected unreferenced chunks", "chunks", out.Chunks, "bytes", out.Bytes)
	}
	return out, nil
}

// giveUp ends this device's custody of id, which another device proved to
// keep: it becomes a cached copy.
func (s *Store) giveUp(id ID) {
	err := s.editEntryLocked(id, "give up custody", func(ne *entry) (bool, error) {
		if ne.state != Complete || !ne.custody() {
			return false, nil
		}
		s.mu.Lock()
		_, releasing := s.releasing[id]
		s.mu.Unlock()
		if releasing {
			return false, nil
		}
		ne.flags &^= flagCustody
		return true, nil
	})
	if err != nil {
		s.log.Warn("collect: giving up custody of a chunk another device proved to keep", "chunk", id.Short(), "err", err)
	}
}
