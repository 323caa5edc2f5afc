package engine

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

// DefaultReplicas is how many devices keep each chunk when Options.Replicas is 0.
const DefaultReplicas = 2

// Options configure an Engine.
type Options struct {
	Store    *chunks.Store
	Fetcher  *chunks.Fetcher
	Meta     *meta.DB
	Replicas int  // devices that should keep each chunk; 0 = DefaultReplicas
	KeepAll  bool // keep every chunk of every version (a home server or NAS)
	// OnCommit runs after every local commit, before replication is
	// kicked (the daemon counts commits and invalidates caches here).
	OnCommit func([]meta.FileVersion)
	Logger   *slog.Logger

	// PinsFile is where the pinned paths persist (a JSON list); "" keeps
	// them in memory only.
	PinsFile string

	// RetryEvery is how long replication waits after a round that left
	// work it could not do (no device with room, a failed request); 0 =
	// 30 s. Commits and devices coming online start a round at once.
	RetryEvery time.Duration

	// KeepsInFlight is how many keep requests replication has outstanding
	// with one device; 0 = 3. The simulator (internal/sim) sets 1 so that
	// a round's requests go out in one order on every run.
	KeepsInFlight int
}

// Engine is this device's sync policy. Its methods are safe for
// concurrent use.
type Engine struct {
	store    *chunks.Store
	fetcher  *chunks.Fetcher
	meta     *meta.DB
	replicas int
	keepAll  bool
	onCommit func([]meta.FileVersion)
	log      *slog.Logger
	retry    time.Duration
	inFlight int

	net atomic.Pointer[netBox] // nil: local-only

	kickCh  chan struct{}
	keepCh  chan []chunks.ID // KeepAll: chunks of merged versions to fetch and keep
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	handOff sync.Mutex // one HandOff at a time

	pins  *pinSet
	pinCh chan struct{}
	pinMu sync.Mutex // one re-derivation of pins at a time

	mu       sync.Mutex           // guards full, reverify and removed
	full     map[string]time.Time // devices that answered full, until when to skip them
	reverify map[string]bool      // devices whose holdings the next round proves again
	removed  map[string]bool      // devices removed from the account: they keep nothing for us

	stats struct {
		replicated, released, refused, badProofs atomic.Int64
	}

	changes atomic.Uint64 // bumped by what may change a file's copies (residency.go)
	unrepl  unreplicated  // Unreplicated's last count
}

type netBox struct{ Network }

// New returns an engine over the stores; Start runs its background work.
func New(opts Options) (*Engine, error) {
	if opts.Store == nil || opts.Fetcher == nil || opts.Meta == nil {
		return nil, errors.New("engine: Store, Fetcher and Meta are required")
	}
	if opts.Replicas <= 0 {
		opts.Replicas = DefaultReplicas
	}
	if opts.RetryEvery <= 0 {
		opts.RetryEvery = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	pins, err := loadPins(opts.PinsFile)
	if err != nil {
		return nil, err
	}
	if opts.KeepsInFlight <= 0 {
		opts.KeepsInFlight = keepsInFlight
	}
	e := &Engine{
		pins: pins, pinCh: make(chan struct{}, 1),
		store: opts.Store, fetcher: opts.Fetcher, meta: opts.Meta,
		replicas: opts.Replicas, keepAll: opts.KeepAll, onCommit: opts.OnCommit,
		log: opts.Logger, retry: opts.RetryEvery, inFlight: opts.KeepsInFlight,
		kickCh: make(chan struct{}, 1), keepCh: make(chan []chunks.ID, 64),
		full: map[string]time.Time{}, reverify: map[string]bool{}, removed: map[string]bool{},
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	return e, nil
}

// Start runs replication (and, with KeepAll, keeping) until Close. An
// engine that is never started does nothing in the background: its owner
// runs rounds with ReplicateOnce (the simulator does).
func (e *Engine) Start() {
	e.wg.Add(2)
	go e.replicateLoop()
	go e.pinLoop()
	if len(e.pins.list()) > 0 {
		e.kickPins() // files that changed while the daemon was down
	}
	if e.keepAll {
		e.wg.Add(1)
		go e.keepLoop()
	}
}

// Close stops the background work and waits for it.
func (e *Engine) Close() error {
	e.cancel()
	e.wg.Wait()
	return nil
}

// SetNetwork connects the engine to other devices; nil makes it local-only.
func (e *Engine) SetNetwork(n Network) {
	if n == nil {
		e.net.Store(nil)
		return
	}
	e.net.Store(&netBox{n})
	e.kick()
}

func (e *Engine) network() Network {
	if b := e.net.Load(); b != nil {
		return b.Network
	}
	return nil
}

// Committed is the hook every local writer calls after a commit (the
// mount, import, restore): replication and pins start. Other devices are
// told once the commit is durable (Durable).
func (e *Engine) Committed(vs []meta.FileVersion) {
	if len(vs) == 0 {
		return
	}
	e.changed()
	if e.onCommit != nil {
		e.onCommit(vs)
	}
	if e.pins.touches(vs) {
		e.kickPins()
	}
	e.kick()
}

// Durable is the hook for local commits that became durable
// (meta.Options.Durable): the other devices are told there is more to
// pull. Not at Committed: meta group-commits, and a peer must never pull
// a version that a crash here could still lose.
func (e *Engine) Durable() {
	if n := e.network(); n != nil {
		n.Notify()
	}
}

// Merged is the hook for versions merged from another device.
func (e *Engine) Merged(res meta.MergeResult) {
	e.changed()
	if e.pins.touches(res.Applied) {
		e.kickPins()
	}
	if !e.keepAll {
		return
	}
	var ids []chunks.ID
	for _, v := range res.Applied {
		for _, r := range v.Chunks {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) == 0 {
		return
	}
	select {
	case e.keepCh <- ids:
	case <-e.ctx.Done():
	}
}

// DeviceOnline is the hook for a device that became reachable. The next
// round proves again what it keeps for this device: it may come back
// with its state dir restored from an older copy, without chunks it once
// proved to keep.
func (e *Engine) DeviceOnline(device string) {
	e.mu.Lock()
	delete(e.full, device)
	e.reverify[device] = true
	e.mu.Unlock()
	if len(e.pins.list()) > 0 {
		e.kickPins()
	}
	e.kick()
}

func (e *Engine) kick() {
	e.changed()
	select {
	case e.kickCh <- struct{}{}:
	default:
	}
}

// Stats counts what the engine did since it started, and what waits.
type Stats struct {
	Replicated int64 // chunks another device took custody of and proved
	Released   int64 // chunks handed to another device under pressure
	Refused    int64 // chunks a device would not or could not keep
	BadProofs  int64 // answers whose proof of possession was wrong
	Waiting    int   // chunks kept here that fewer than Replicas devices keep
}

// Stats reports the counters and how many chunks wait for copies.
func (e *Engine) Stats() Stats {
	st := Stats{
		Replicated: e.stats.replicated.Load(), Released: e.stats.released.Load(),
		Refused: e.stats.refused.Load(), BadProofs: e.stats.badProofs.Load(),
	}
	if ws, err := e.underReplicated(); err == nil {
		st.Waiting = len(ws)
	}
	return st
}

// Replicas is how many devices should keep each chunk.
func (e *Engine) Replicas() int { return e.replicas }

// Copies returns how many devices are known to keep every chunk of v (as
// far as this device knows): the minimum over its chunks of this device
// when it keeps the chunk (custody or a pin; a cached copy can go at any
// time), the other devices known to keep it, and the version's writer,
// which keeps what it wrote until it hands it over.
func (e *Engine) Copies(v meta.FileVersion) int {
	self := e.meta.Device()
	best := -1
	for _, r := range v.Chunks {
		in, err := e.store.Stat(r.ID)
		if err != nil {
			return 0
		}
		n := 0
		for _, h := range in.Holders {
			if h != self && !e.isRemoved(h) {
				n++
			}
		}
		if in.State == chunks.Complete && (in.Custody || in.Pins > 0) {
			n++ // kept here: a cached copy may go at any time and is not counted
		}
		if v.Origin != "" && v.Origin != self && !slices.Contains(in.Holders, v.Origin) && !e.isRemoved(v.Origin) {
			n++ // the writer keeps what it wrote until it hands it over
		}
		if best < 0 || n < best {
			best = n
		}
	}
	if best < 0 {
		return e.replicas // no chunks (empty or inline): every device has it with the version
	}
	return best
}
