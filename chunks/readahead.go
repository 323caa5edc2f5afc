package chunks

import (
	"context"
	"sort"
	"sync"
)

// Read-ahead tuning. The kernel sends the reads of its own read-ahead (the
// mount raises it to 16 MiB) a few at a time and not always in order, so a
// read within seqSlack of the furthest one read so far still counts as
// sequential.
const (
	startAhead    = 2        // chunks fetched ahead at the first sequential read
	maxAheadBytes = 32 << 20 // the window's cap, before cache room
	seqSlack      = 16 << 20
)

// ReadAhead follows the reads of one open file and, while they run
// sequentially, keeps the chunks after them fetching through the Fetcher,
// so a reader finds them complete (and in the memory cache) instead of
// waiting a round trip and a store write per chunk. The window starts at
// startAhead chunks and doubles each time the reader enters a new chunk, as
// the kernel grows its read-ahead, up to a byte cap that also leaves room
// in the memory cache and the store. A read elsewhere in the file closes
// the window and abandons the fetches ahead (one another reader shares goes
// on for it); so does Close. The fetches belong to the Fetcher: its Close
// ends them. Its methods are safe for concurrent use; a nil *ReadAhead
// does nothing.
type ReadAhead struct {
	f     *Fetcher
	refs  []Ref
	limit int64 // the window's byte cap

	mu     sync.Mutex // guards the fields below
	win    window
	ctx    context.Context // of the fetches ahead; cancelled when they are abandoned
	cancel context.CancelFunc
	closed bool
}

// ReadAhead returns the read-ahead of one reader of content refs
// (contiguous from 0), or nil when there is nothing to read ahead (a file
// of one chunk). Call Read at each read and Close when the file closes.
func (f *Fetcher) ReadAhead(refs []Ref) *ReadAhead {
	if len(refs) < 2 {
		return nil
	}
	limit := int64(maxAheadBytes)
	if m := f.store.cache.max; m > 0 {
		limit = min(limit, m/2)
	}
	if c := f.store.capacity; c > 0 {
		limit = min(limit, c/4)
	}
	return &ReadAhead{f: f, refs: refs, limit: limit, win: window{slack: seqSlack}}
}

// Read tells the read-ahead that [off, off+n) is being read, and starts
// fetching the chunks the window now covers.
func (r *ReadAhead) Read(off, n int64) {
	if r == nil || n <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	from, to, reset := r.win.observe(r.refs, off, off+n, r.limit)
	if reset && r.cancel != nil {
		r.cancel()
		r.ctx, r.cancel = nil, nil
	}
	for i := from; i < to; i++ {
		id := r.refs[i].ID
		if st, err := r.f.store.Status(id); err != nil || st == Complete {
			continue
		}
		if r.ctx == nil {
			r.ctx, r.cancel = context.WithCancel(r.f.ctx)
		}
		if !r.f.ahead(r.ctx, id) {
			return
		}
	}
}

// Close abandons the fetches ahead. Fetches another reader waits for go on.
func (r *ReadAhead) Close() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.cancel != nil {
		r.cancel()
	}
}

// ahead starts a fetch of id that nobody waits for yet, on ctx. It reports
// false when the fetcher is closed.
func (f *Fetcher) ahead(ctx context.Context, id ID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.wg.Add(1) // under mu: Close waits only after setting closed
	go func() {
		defer f.wg.Done()
		if _, err := f.shared(ctx, id); err != nil && ctx.Err() == nil {
			f.log.Debug("read-ahead fetch failed", "chunk", id.Short(), "err", err)
		}
	}()
	return true
}

// window is the read-ahead state of one reader: pure logic over chunk
// indices, no I/O.
type window struct {
	slack   int64 // how far from the furthest read a read still counts as sequential
	started bool
	hi      int64 // end of the furthest read of the current sequential run
	chunk   int   // index of the chunk hi falls in
	size    int   // chunks to keep fetched after the reader's chunk; 0 = not sequential
	issued  int   // chunks before this index were asked for already (this run)
}

// observe records a read of [off, end) of content refs and returns the
// chunks [from, to) to start fetching now, none of them asked for before in
// this run. A read at offset 0 of a fresh reader, or within slack of the
// furthest read so far, is sequential: the window opens at startAhead
// chunks and doubles each time the reader enters a later chunk. Any other
// read closes the window, and reset reports whether fetches asked for
// earlier should be abandoned; a read that continues it opens a new one.
// The window covers size chunks after the one the furthest read ends in,
// cut to limit bytes (never below one chunk).
func (w *window) observe(refs []Ref, off, end int64, limit int64) (from, to int, reset bool) {
	last := chunkAt(refs, max(end-1, 0))
	seq := off == 0 && !w.started || w.started && off >= w.hi-w.slack && off <= w.hi+w.slack
	w.started = true
	if !seq {
		reset = w.issued > 0
		w.size, w.issued, w.hi, w.chunk = 0, 0, end, last
		return 0, 0, reset
	}
	switch {
	case w.size == 0:
		w.size = startAhead
	case last > w.chunk:
		w.size = min(2*w.size, len(refs))
	}
	if end > w.hi {
		w.hi, w.chunk = end, last
	}
	from = max(w.issued, w.chunk+1)
	to = from
	bytes := int64(0)
	for i := w.chunk + 1; i < len(refs) && i <= w.chunk+w.size; i++ {
		bytes += refs[i].Size
		if bytes > limit && i > w.chunk+1 {
			w.size = i - w.chunk - 1 // the cap holds the window here
			break
		}
		if i >= from {
			to = i + 1
		}
	}
	w.issued = max(w.issued, to)
	return from, to, reset
}

// chunkAt returns the index of the chunk of refs that holds byte off (the
// last chunk for an offset past the end).
func chunkAt(refs []Ref, off int64) int {
	i := sort.Search(len(refs), func(i int) bool { return refs[i].End() > off })
	return min(i, len(refs)-1)
}
