package chunks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMemSourceConformance(t *testing.T) {
	SourceSuite(t, func(t *testing.T) (Source, func([]byte) ID) {
		m := NewMemSource("mem")
		return m, m.Add
	})
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (f *Fetcher) waiters(id ID) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.calls[id]; c != nil {
		return c.waiters
	}
	return 0
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestGet(t *testing.T) {
	ctx := testCtx(t)
	src := NewMemSource("peer")
	s := TestStore(t)
	f := TestFetcher(t, s, src)

	local := mustPut(t, s, RandomBytes(1, 1000))
	if _, err := f.Get(ctx, local); err != nil || src.Calls() != 0 {
		t.Fatalf("Get of a complete chunk: err %v, %d source calls", err, src.Calls())
	}
	data := RandomBytes(2, 300_000)
	id := src.Add(data)
	for range 2 {
		got, err := f.Get(ctx, id)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Get: %d bytes, err %v", len(got), err)
		}
	}
	if n := src.CallsFor(id); n != 1 {
		t.Errorf("%d source calls for one chunk read twice, want 1", n)
	}
	wantState(t, s, id, Complete)
	if hs, _ := s.Holders(id); len(hs) != 0 {
		t.Errorf("holders %q, want none: a source proved nothing", hs)
	}
}

func TestGetSharedFetch(t *testing.T) {
	ctx := testCtx(t)
	src := NewMemSource("peer")
	s := TestStore(t)
	f := TestFetcher(t, s, src)
	data := RandomBytes(3, 200_000)
	id := src.Add(data)
	release := src.Hold()

	const readers = 2
	var wg sync.WaitGroup
	results := make(chan error, readers+1)
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := f.Get(ctx, id)
			if err == nil && !bytes.Equal(got, data) {
				err = errors.New("wrong bytes")
			}
			results <- err
		}()
	}
	waitFor(t, "both readers to wait on one fetch", func() bool { return f.waiters(id) == readers })
	// FetchAll of the same chunk joins too (via the second queue).
	wg.Add(1)
	go func() {
		defer wg.Done()
		results <- f.FetchAll(ctx, []ID{id}, nil)
	}()
	waitFor(t, "FetchAll to join", func() bool { return f.waiters(id) == readers+1 })
	release()
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Error(err)
		}
	}
	if n := src.Calls(); n != 1 {
		t.Errorf("%d source calls for concurrent readers of one chunk, want 1", n)
	}
}

func TestCorruptSourceSkipped(t *testing.T) {
	ctx := testCtx(t)
	bad, good := NewMemSource("bad"), NewMemSource("good")
	bad.SetCorrupt(true)
	s := TestStore(t)
	f := TestFetcher(t, s, bad, good)
	for i := range 4 { // the first source tried rotates: both orders happen
		data := RandomBytes(uint64(10+i), 50_000)
		id := good.Add(data)
		bad.Add(data)
		got, err := f.Get(ctx, id)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Get with a corrupt source first: %d bytes, err %v", len(got), err)
		}
		if hs, _ := s.Holders(id); len(hs) != 0 {
			t.Errorf("holders %q, want none: a source proved nothing", hs)
		}
	}
	if bad.Calls() == 0 {
		t.Error("the corrupt source was never tried; rotation is broken")
	}

	// With only the corrupt source: ErrUnavailable, nothing stored.
	only := TestFetcher(t, TestStore(t), bad)
	data := RandomBytes(20, 50_000)
	id := bad.Add(data)
	_, err := only.Get(ctx, id)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get from a corrupt source only: %v, want ErrUnavailable wrapping ErrCorrupt", err)
	}
	wantState(t, only.store, id, Missing)
	if u := only.store.Usage(); u.Chunks != 0 {
		t.Errorf("corrupt bytes stored: %+v", u)
	}
}

func TestAllSourcesFail(t *testing.T) {
	ctx := testCtx(t)
	a, b := NewMemSource("a"), NewMemSource("b")
	a.SetFail(errors.New("connection reset"))
	s := TestStore(t)
	f := TestFetcher(t, s, a, b) // b simply does not have it
	id := Sum([]byte("nobody has this"))
	start := time.Now()
	_, err := f.Get(ctx, id)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("failing took %v", d)
	}
	if !strings.Contains(err.Error(), id.Short()) {
		t.Errorf("error %q does not name the chunk", err)
	}
	if !strings.Contains(err.Error(), "connection reset") && !errors.Is(err, ErrNotFound) {
		t.Errorf("error %q does not carry the last source's error", err)
	}
	if a.Calls() != 1 || b.Calls() != 1 {
		t.Errorf("calls a=%d b=%d, want each source tried once", a.Calls(), b.Calls())
	}
	wantState(t, s, id, Missing) // cancelled, fetchable again

	none := TestFetcher(t, s)
	if _, err := none.Get(ctx, id); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Get with no sources: %v, want ErrUnavailable", err)
	}
}

func TestFetchAll(t *testing.T) {
	ctx := testCtx(t)
	a, b := NewMemSource("a"), NewMemSource("b")
	s := TestStore(t)
	f := TestFetcher(t, s, a, b)
	var ids []ID
	for i := range 24 {
		data := RandomBytes(uint64(100+i), 20_000+i)
		ids = append(ids, a.Add(data))
		b.Add(data)
	}
	present := mustPut(t, s, RandomBytes(1, 999))
	ids = append(ids, present, ids[0]) // a complete one and a duplicate
	var reports []int
	err := f.FetchAll(ctx, ids, func(done, total int) {
		if total != 25 {
			t.Errorf("progress total %d, want 25 distinct chunks", total)
		}
		reports = append(reports, done)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		wantState(t, s, id, Complete)
	}
	if n := a.Calls() + b.Calls(); n != 24 {
		t.Errorf("%d source calls for 24 missing chunks", n)
	}
	if a.Calls() == 0 || b.Calls() == 0 {
		t.Errorf("load not spread: a=%d b=%d", a.Calls(), b.Calls())
	}
	if len(reports) == 0 || reports[len(reports)-1] != 25 {
		t.Errorf("progress reports %v, want to end at 25", reports)
	}
	for i := 1; i < len(reports); i++ {
		if reports[i] < reports[i-1] {
			t.Fatalf("progress went backwards: %v", reports)
		}
	}
}

func TestFetchAllPartialFailure(t *testing.T) {
	ctx := testCtx(t)
	src := NewMemSource("a")
	s := TestStore(t)
	f := TestFetcher(t, s, src)
	have := src.Add(RandomBytes(1, 1000))
	missing := Sum([]byte("gone"))
	err := f.FetchAll(ctx, []ID{missing, have}, nil)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "1 failed") {
		t.Fatalf("FetchAll with one unavailable chunk: %v", err)
	}
	wantState(t, s, have, Complete) // the others still arrive
}

func TestFetchAllSecondQueue(t *testing.T) {
	for _, tc := range []struct {
		name      string
		finish    func(s *Store, id ID, tok Token, data []byte) error
		wantCalls int // source calls for the in-progress chunk
	}{
		{"other fetch completes", func(s *Store, id ID, tok Token, data []byte) error { return s.Write(id, tok, data) }, 0},
		{"other fetch fails: refetch", func(s *Store, id ID, tok Token, _ []byte) error { return s.Cancel(id, tok) }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			src := NewMemSource("a")
			s := TestStore(t)
			// One worker: only the second queue lets it get past the busy chunk.
			f := NewFetcher(s, FetcherOptions{Parallel: 1, Sources: func() []Source { return []Source{src} }})
			defer f.Close()
			data := RandomBytes(1, 30_000)
			busy := src.Add(data)
			other := src.Add(RandomBytes(2, 30_000))
			tok := mustBegin(t, s, busy) // someone else (a peer, another fetcher) is on it

			var mu sync.Mutex
			var done int
			errc := make(chan error, 1)
			go func() {
				errc <- f.FetchAll(ctx, []ID{busy, other}, func(d, _ int) {
					mu.Lock()
					done = d
					mu.Unlock()
				})
			}()
			// The first queue goes past the busy chunk to the other one.
			waitFor(t, "the first queue to finish", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return done == 1
			})
			wantState(t, s, other, Complete)
			select {
			case err := <-errc:
				t.Fatalf("FetchAll returned (%v) while a chunk was still in progress", err)
			default:
			}
			if err := tc.finish(s, busy, tok, data); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			wantState(t, s, busy, Complete)
			if n := src.CallsFor(busy); n != tc.wantCalls {
				t.Errorf("%d source calls for the in-progress chunk, want %d", n, tc.wantCalls)
			}
		})
	}
}

func TestFetchParallelLimit(t *testing.T) {
	ctx := testCtx(t)
	src := NewMemSource("a")
	s := TestStore(t)
	f := NewFetcher(s, FetcherOptions{Parallel: 3, Sources: func() []Source { return []Source{src} }})
	defer f.Close()
	var ids []ID
	for i := range 10 {
		ids = append(ids, src.Add(RandomBytes(uint64(i), 1000)))
	}
	release := src.Hold()
	errc := make(chan error, 1)
	go func() { errc <- f.FetchAll(ctx, ids, nil) }()
	waitFor(t, "3 fetches in flight", func() bool { return src.Calls() == 3 })
	time.Sleep(50 * time.Millisecond)
	if n := src.Calls(); n != 3 {
		t.Fatalf("%d fetches in flight with Parallel 3", n)
	}
	release()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n := src.Calls(); n != 10 {
		t.Errorf("%d source calls, want 10", n)
	}
}

func TestGetContextCancel(t *testing.T) {
	src := NewMemSource("slow")
	s := TestStore(t)
	f := TestFetcher(t, s, src)
	id := src.Add(RandomBytes(1, 1000))
	release := src.Hold()
	defer release()

	// Two readers; the first gives up, the second still gets the chunk.
	ctx1, cancel1 := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := f.Get(ctx1, id)
		errc <- err
	}()
	got := make(chan error, 1)
	go func() {
		_, err := f.Get(testCtx(t), id)
		got <- err
	}()
	waitFor(t, "two waiters", func() bool { return f.waiters(id) == 2 })
	cancel1()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Get: %v, want context.Canceled", err)
	}
	release()
	if err := <-got; err != nil {
		t.Fatalf("the reader that stayed: %v", err)
	}

	// The only reader gives up: the fetch is cancelled and the chunk is
	// missing again, not stuck in progress.
	id2 := src.Add(RandomBytes(2, 1000))
	release2 := src.Hold()
	defer release2()
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() {
		_, err := f.Get(ctx2, id2)
		errc <- err
	}()
	waitFor(t, "the fetch to start", func() bool { return src.CallsFor(id2) == 1 })
	cancel2()
	start := time.Now()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Get: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancel took %v", d)
	}
	waitFor(t, "the abandoned fetch to cancel its token", func() bool {
		st, _ := s.Status(id2)
		return st == Missing
	})

	// FetchAll stops on cancel.
	ctx3, cancel3 := context.WithCancel(context.Background())
	var ids []ID
	for i := range 5 {
		ids = append(ids, src.Add(RandomBytes(uint64(50+i), 100)))
	}
	go func() { errc <- f.FetchAll(ctx3, ids, nil) }()
	waitFor(t, "FetchAll to start", func() bool { return src.CallsFor(ids[0]) > 0 })
	cancel3()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled FetchAll: %v, want context.Canceled", err)
	}
}

func TestFetcherClose(t *testing.T) {
	src := NewMemSource("slow")
	s := TestStore(t)
	f := NewFetcher(s, FetcherOptions{Sources: func() []Source { return []Source{src} }})
	id := src.Add(RandomBytes(1, 1000))
	release := src.Hold()
	defer release()
	errc := make(chan error, 1)
	go func() {
		_, err := f.Get(context.Background(), id)
		errc <- err
	}()
	waitFor(t, "the fetch to start", func() bool { return src.Calls() == 1 })
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("Get during Close: %v, want ErrClosed", err)
	}
	if _, err := f.Get(context.Background(), id); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if err := f.FetchAll(context.Background(), []ID{id}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("FetchAll after Close: %v", err)
	}
	wantState(t, s, id, Missing)
}

func TestGetRefetchesCorruptLocalCopy(t *testing.T) {
	ctx := testCtx(t)
	src := NewMemSource("a")
	s := TestStore(t, func(o *Options) { o.MemCache = -1 })
	f := TestFetcher(t, s, src)
	data := RandomBytes(1, 10_000)
	id := src.Add(data)
	if _, err := f.Get(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.chunkPath(id), make([]byte, len(data)), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := f.Get(ctx, id)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get over a rotten local copy: %v", err)
	}
	if n := src.CallsFor(id); n != 2 {
		t.Errorf("%d source calls, want a refetch", n)
	}
}

func TestFetchedChunksAreEvictable(t *testing.T) {
	ctx := testCtx(t)
	src := NewMemSource("a")
	s := TestStore(t, func(o *Options) { o.Capacity = 500_000 })
	f := TestFetcher(t, s, src)
	var ids []ID
	for i := range 20 {
		ids = append(ids, src.Add(RandomBytes(uint64(i), 100_000)))
	}
	for i, id := range ids {
		if _, err := f.Get(ctx, id); err != nil {
			t.Fatalf("Get %d into a full cache: %v", i, err)
		}
		if u := s.Usage(); u.Used > 500_000 {
			t.Fatalf("used %d over the cap", u.Used)
		}
	}
	// Reading an evicted chunk fetches it again.
	if _, err := f.Get(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if n := src.CallsFor(ids[0]); n != 2 {
		t.Errorf("%d calls for an evicted chunk read again, want 2", n)
	}
}

func ExampleFetcher() {
	peer := NewMemSource("laptop")
	id := peer.Add([]byte("bytes only the laptop has"))

	dir, _ := os.MkdirTemp("", "chunks-example")
	defer os.RemoveAll(dir)
	store, _ := Open(Options{Dir: dir})
	defer store.Close()
	f := NewFetcher(store, FetcherOptions{Sources: func() []Source { return []Source{peer} }})
	defer f.Close()

	data, err := f.Get(context.Background(), id)
	fmt.Println(string(data), err)
	st, _ := store.Status(id)
	fmt.Println(st)
	// Output:
	// bytes only the laptop has <nil>
	// complete
}
