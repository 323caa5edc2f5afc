package chunks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// DefaultParallel is the number of fetches in flight when
// FetcherOptions.Parallel is 0.
const DefaultParallel = 16

// FetcherOptions configure a Fetcher.
type FetcherOptions struct {
	Parallel int             // fetches in flight; 0 = 16
	Sources  func() []Source // asked at each fetch: the set changes as devices come and go
	Logger   *slog.Logger
}

// Fetcher fetches missing chunks from Sources into a Store: Get for one
// chunk a reader needs now, FetchAll for the queue algorithm (prefetch).
// Concurrent requests for one missing chunk share one fetch. Its methods
// are safe for concurrent use.
type Fetcher struct {
	store   *Store
	sources func() []Source
	log     *slog.Logger
	sem     chan struct{} // one slot per fetch in flight
	par     int
	rot     atomic.Uint64 // rotates the first source tried

	active  atomic.Int64 // fetches talking to a source now
	fetched atomic.Int64 // plain bytes fetched and stored since NewFetcher
	failed  atomic.Int64 // fetches that no source could satisfy

	ctx    context.Context // cancelled by Close: ends every fetch
	cancel context.CancelFunc
	wg     sync.WaitGroup // fetch goroutines

	mu     sync.Mutex // guards calls and closed
	calls  map[ID]*call
	closed bool
}

// call is one shared fetch of a chunk.
type call struct {
	done    chan struct{} // closed when data and err are set
	data    []byte
	err     error
	waiters int                // callers still waiting; at 0 the fetch is cancelled
	cancel  context.CancelFunc // cancels the fetch
}

// NewFetcher returns a Fetcher writing into s. Close it before s.
func NewFetcher(s *Store, opts FetcherOptions) *Fetcher {
	par := opts.Parallel
	if par <= 0 {
		par = DefaultParallel
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sources := opts.Sources
	if sources == nil {
		sources = func() []Source { return nil }
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Fetcher{
		store:   s,
		sources: sources,
		log:     log,
		sem:     make(chan struct{}, par),
		par:     par,
		ctx:     ctx,
		cancel:  cancel,
		calls:   make(map[ID]*call),
	}
}

// Close cancels every fetch and returns once they are gone. Later calls
// return ErrClosed.
func (f *Fetcher) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.cancel()
	f.wg.Wait()
	return nil
}

// Get returns the plain bytes of id: from the store when complete,
// otherwise fetched from a source (one fetch shared by concurrent callers).
// When no source can supply the chunk the error wraps ErrUnavailable. The
// caller must not modify the result.
func (f *Fetcher) Get(ctx context.Context, id ID) ([]byte, error) {
	if f.isClosed() {
		return nil, ErrClosed
	}
	data, err := f.store.Read(id)
	switch {
	case err == nil:
		return data, nil
	case errors.Is(err, ErrCorrupt):
		// The local copy rotted: drop it and fetch a good one.
		f.log.Error("dropping corrupt chunk to fetch it again", "chunk", id.Short(), "err", err)
		if rerr := f.store.Remove(id); rerr != nil {
			return nil, errors.Join(err, rerr)
		}
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	return f.shared(ctx, id)
}

func (f *Fetcher) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// shared joins the fetch of id in flight or starts one. The fetch runs on
// the Fetcher's context so one caller giving up does not fail the others;
// it is cancelled when the last waiter leaves.
func (f *Fetcher) shared(ctx context.Context, id ID) ([]byte, error) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, ErrClosed
	}
	c := f.calls[id]
	if c == nil {
		cctx, cancel := context.WithCancel(f.ctx)
		c = &call{done: make(chan struct{}), cancel: cancel}
		f.calls[id] = c
		f.wg.Add(1)
		go f.run(cctx, id, c)
	}
	c.waiters++
	f.mu.Unlock()

	select {
	case <-c.done:
		return c.data, c.err
	case <-ctx.Done():
		f.mu.Lock()
		c.waiters--
		if c.waiters == 0 {
			c.cancel()
			if f.calls[id] == c {
				delete(f.calls, id) // a later caller starts afresh
			}
		}
		f.mu.Unlock()
		return nil, fmt.Errorf("get chunk %s: %w", id.Short(), ctx.Err())
	}
}

func (f *Fetcher) run(ctx context.Context, id ID, c *call) {
	defer f.wg.Done()
	data, err := f.fetch(ctx, id)
	if err != nil && f.ctx.Err() != nil {
		err = fmt.Errorf("fetch chunk %s: %w", id.Short(), ErrClosed)
	}
	c.data, c.err = data, err
	f.mu.Lock()
	if f.calls[id] == c {
		delete(f.calls, id)
	}
	f.mu.Unlock()
	c.cancel()
	close(c.done)
}

// fetch is the per-chunk algorithm: Begin; complete → read it; in
// progress elsewhere → wait for that fetch and begin again (refetching if
// it failed); missing → fetch from the sources and Write, or Cancel.
func (f *Fetcher) fetch(ctx context.Context, id ID) ([]byte, error) {
	for range 8 {
		t, err := f.store.Begin(id)
		switch {
		case err == nil:
			return f.fromSources(ctx, id, t)
		case errors.Is(err, ErrComplete):
			data, err := f.store.Read(id)
			if errors.Is(err, ErrNotFound) {
				continue // evicted between Begin and Read
			}
			return data, err
		case errors.Is(err, ErrInProgress):
			if !f.store.awaitProgress(ctx.Done(), id) {
				return nil, fmt.Errorf("fetch chunk %s: %w", id.Short(), ctx.Err())
			}
		default:
			return nil, fmt.Errorf("fetch chunk %s: %w", id.Short(), err)
		}
	}
	return nil, fmt.Errorf("fetch chunk %s: it keeps changing state under the fetch: %w", id.Short(), ErrUnavailable)
}

// fromSources fetches id holding token t, trying each source once,
// starting at a rotating index so load spreads. Bytes that fail
// verification count as that source's failure.
func (f *Fetcher) fromSources(ctx context.Context, id ID, t Token) (data []byte, err error) {
	defer func() {
		if err != nil {
			if cerr := f.store.Cancel(id, t); cerr != nil && !errors.Is(cerr, ErrClosed) {
				f.log.Warn("cancel chunk fetch", "chunk", id.Short(), "err", cerr)
			}
		}
	}()
	select {
	case f.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("fetch chunk %s: %w", id.Short(), ctx.Err())
	}
	defer func() { <-f.sem }()
	f.active.Add(1)
	defer f.active.Add(-1)
	defer func() {
		if err != nil && ctx.Err() == nil {
			f.failed.Add(1)
		}
	}()

	srcs := f.sources()
	if len(srcs) == 0 {
		return nil, fmt.Errorf("fetch chunk %s: no source online: %w", id.Short(), ErrUnavailable)
	}
	start := int(f.rot.Add(1) % uint64(len(srcs)))
	var lastErr error
	var lastName string
	for i := range srcs {
		src := srcs[(start+i)%len(srcs)]
		v, err := src.Fetch(ctx, id)
		if err == nil && v.ID() != id {
			err = corruptf(id, "source answered with chunk %s", v.ID().Short())
		}
		if err == nil {
			// The source is not recorded as a holder: it may hold only a
			// cached copy, and holders are the devices that proved they
			// keep a chunk (engine). Counting a source made replication
			// stop one copy short, which a lost keeper then turned into
			// a lost chunk.
			err = f.store.WriteVerified(t, v)
			switch {
			case err == nil:
				f.store.cache.add(id, v.Plain())
				f.fetched.Add(int64(len(v.Plain())))
				return v.Plain(), nil
			case errors.Is(err, ErrStaleToken):
				// A Put of the same bytes or a Remove took the chunk over;
				// v passed verification either way.
				if st, serr := f.store.Status(id); serr == nil && st == Complete {
					return v.Plain(), nil
				}
				return nil, fmt.Errorf("fetch chunk %s: %w", id.Short(), err)
			default:
				return nil, fmt.Errorf("fetch chunk %s from %s: %w", id.Short(), src.Name(), err)
			}
		}
		if errors.Is(err, ErrCorrupt) {
			f.log.Warn("source sent corrupt chunk", "chunk", id.Short(), "source", src.Name(), "err", err)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("fetch chunk %s: %w", id.Short(), ctx.Err())
		}
		lastErr, lastName = err, src.Name()
		f.log.Debug("source failed to supply chunk", "chunk", id.Short(), "source", lastName, "err", err)
	}
	return nil, fmt.Errorf("fetch chunk %s: %w: all %d sources failed, last %s: %w",
		id.Short(), ErrUnavailable, len(srcs), lastName, lastErr)
}

// FetchStats is what a Fetcher is doing and has done.
type FetchStats struct {
	InFlight     int   // chunk fetches talking to a source now
	FetchedBytes int64 // plain bytes fetched and stored so far
	Failed       int64 // fetches no source could satisfy
}

// Stats reports the fetcher's counters (for status and metrics).
func (f *Fetcher) Stats() FetchStats {
	return FetchStats{InFlight: int(f.active.Load()), FetchedBytes: f.fetched.Load(), Failed: f.failed.Load()}
}

// FetchAll makes every chunk of ids complete: the seed's queue algorithm.
// Complete chunks are skipped; chunks in progress go to a second queue
// drained after the first (waiting for that fetch, refetching if it
// failed); missing chunks are fetched, Parallel at a time. It keeps going
// past failed chunks and returns an error naming how many failed.
// progress, when not nil, is called (never concurrently) with the number
// of chunks present so far and the total.
func (f *Fetcher) FetchAll(ctx context.Context, ids []ID, progress func(done, total int)) error {
	if f.isClosed() {
		return ErrClosed
	}
	queue := make([]ID, 0, len(ids))
	seen := make(map[ID]bool, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			queue = append(queue, id)
		}
	}
	fa := &fetchAll{total: len(queue), progress: progress}
	fa.report(0)
	f.drain(ctx, queue, fa, false)
	f.drain(ctx, fa.second, fa, true)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fetch %d chunks: %d done: %w", fa.total, fa.done, err)
	}
	if fa.failed > 0 {
		return fmt.Errorf("fetch %d chunks: %d failed, first: %w", fa.total, fa.failed, fa.first)
	}
	return nil
}

// fetchAll is the shared state of one FetchAll.
type fetchAll struct {
	total    int
	progress func(done, total int)

	mu     sync.Mutex // guards the fields below and calls to progress
	done   int
	failed int
	first  error
	second []ID // found in progress in the first pass
}

func (fa *fetchAll) report(n int) {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	fa.done += n
	if fa.progress != nil {
		fa.progress(fa.done, fa.total)
	}
}

func (fa *fetchAll) fail(err error) {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	fa.failed++
	if fa.first == nil {
		fa.first = err
	}
}

// drain runs queue through f.par workers. In the first pass, chunks in
// progress are deferred to fa.second; in the second they are waited for.
func (f *Fetcher) drain(ctx context.Context, queue []ID, fa *fetchAll, second bool) {
	if len(queue) == 0 {
		return
	}
	ch := make(chan ID)
	var wg sync.WaitGroup
	for range min(f.par, len(queue)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ch {
				f.fetchOne(ctx, id, fa, second)
			}
		}()
	}
feed:
	for _, id := range queue {
		select {
		case ch <- id:
		case <-ctx.Done():
			break feed
		case <-f.ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
}

func (f *Fetcher) fetchOne(ctx context.Context, id ID, fa *fetchAll, second bool) {
	st, err := f.store.Status(id)
	if err != nil {
		fa.fail(err)
		return
	}
	switch {
	case st == Complete:
		fa.report(1)
		return
	case st == InProgress && !second:
		fa.mu.Lock()
		fa.second = append(fa.second, id)
		fa.mu.Unlock()
		return
	}
	if _, err := f.shared(ctx, id); err != nil {
		if ctx.Err() == nil {
			f.log.Warn("prefetch chunk failed", "chunk", id.Short(), "err", err)
		}
		fa.fail(err)
		return
	}
	fa.report(1)
}
