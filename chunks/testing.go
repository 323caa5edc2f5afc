package chunks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// This file holds fixtures for tests of chunks and of the packages that use
// it: a store in a temporary directory, an in-memory Source with failure
// switches, and the conformance suite every Source implementation runs.

// TestStore opens a store in t.TempDir() and closes it at cleanup. Each opt
// adjusts the options before Open (Dir is already set).
func TestStore(t testing.TB, opts ...func(*Options)) *Store {
	t.Helper()
	o := Options{
		Dir:    filepath.Join(t.TempDir(), "chunks"),
		Logger: TestLogger(t),
	}
	for _, opt := range opts {
		opt(&o)
	}
	s, err := Open(o)
	if err != nil {
		t.Fatalf("open test chunk store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close test chunk store: %v", err)
		}
	})
	return s
}

// TestFetcher returns a Fetcher over s and a fixed set of sources, closed
// at cleanup (before s, since cleanups run last-in first-out).
func TestFetcher(t testing.TB, s *Store, sources ...Source) *Fetcher {
	t.Helper()
	f := NewFetcher(s, FetcherOptions{
		Sources: func() []Source { return sources },
		Logger:  TestLogger(t),
	})
	t.Cleanup(func() { f.Close() })
	return f
}

// TestLogger logs warnings and errors to the test's output.
func TestLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// RandomBytes returns n pseudo-random (incompressible) bytes, the same for
// the same seed.
func RandomBytes(seed uint64, n int) []byte {
	var key [32]byte
	key[0], key[1], key[2], key[3] = byte(seed), byte(seed>>8), byte(seed>>16), byte(seed>>24)
	key[4], key[5], key[6], key[7] = byte(seed>>32), byte(seed>>40), byte(seed>>48), byte(seed>>56)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

// MemSource is a Source serving chunks from memory, with switches that make
// it fail, corrupt bytes, delay or hold replies, and counters of calls.
type MemSource struct {
	name string

	mu      sync.Mutex // guards everything below
	chunks  map[ID][]byte
	calls   map[ID]int
	total   int
	fail    error
	corrupt bool
	delay   time.Duration
	hold    chan struct{} // when not nil, Fetch waits for it to close
}

var _ Source = (*MemSource)(nil)

// NewMemSource returns an empty MemSource called name.
func NewMemSource(name string) *MemSource {
	return &MemSource{name: name, chunks: make(map[ID][]byte), calls: make(map[ID]int)}
}

// Add stores a copy of data and returns its ID.
func (m *MemSource) Add(data []byte) ID {
	id := Sum(data)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.chunks[id] = bytes.Clone(data)
	return id
}

// SetFail makes every Fetch return err (nil: serve normally).
func (m *MemSource) SetFail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = err
}

// SetCorrupt makes Fetch return the chunk with one byte flipped.
func (m *MemSource) SetCorrupt(on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.corrupt = on
}

// SetDelay makes Fetch wait d (or until its context ends) before replying.
func (m *MemSource) SetDelay(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.delay = d
}

// Hold makes Fetch calls from now on wait until release is called (or
// their context ends). Calls are counted when they start.
func (m *MemSource) Hold() (release func()) {
	ch := make(chan struct{})
	m.mu.Lock()
	m.hold = ch
	m.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			if m.hold == ch {
				m.hold = nil
			}
			m.mu.Unlock()
			close(ch)
		})
	}
}

// Calls returns how many times Fetch was called.
func (m *MemSource) Calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.total
}

// CallsFor returns how many times Fetch was called for id.
func (m *MemSource) CallsFor(id ID) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[id]
}

// Name implements Source.
func (m *MemSource) Name() string { return m.name }

// Fetch implements Source. An unknown chunk is an error wrapping
// ErrNotFound; corrupted bytes fail Verify, as a peer's do.
func (m *MemSource) Fetch(ctx context.Context, id ID) (Verified, error) {
	m.mu.Lock()
	m.total++
	m.calls[id]++
	data, ok := m.chunks[id]
	fail, corrupt, delay, hold := m.fail, m.corrupt, m.delay, m.hold
	m.mu.Unlock()

	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return Verified{}, fmt.Errorf("%s: fetch chunk %s: %w", m.name, id.Short(), ctx.Err())
		}
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return Verified{}, fmt.Errorf("%s: fetch chunk %s: %w", m.name, id.Short(), ctx.Err())
		}
	}
	if err := ctx.Err(); err != nil {
		return Verified{}, fmt.Errorf("%s: fetch chunk %s: %w", m.name, id.Short(), err)
	}
	if fail != nil {
		return Verified{}, fmt.Errorf("%s: fetch chunk %s: %w", m.name, id.Short(), fail)
	}
	if !ok {
		return Verified{}, fmt.Errorf("%s: fetch chunk %s: %w", m.name, id.Short(), ErrNotFound)
	}
	out := bytes.Clone(data)
	if corrupt {
		if len(out) == 0 {
			out = []byte{0}
		} else {
			out[len(out)/2] ^= 0xff
		}
	}
	return Verify(id, CodecNone, out)
}

// SourceSuite is the conformance suite of the Source interface. newSource
// returns a fresh Source and a function that makes that source able to
// serve the given bytes (for peers: store them on the remote device) and
// returns their ID. Run it from each implementation's tests.
func SourceSuite(t *testing.T, newSource func(t *testing.T) (Source, func([]byte) ID)) {
	t.Run("Name", func(t *testing.T) {
		src, _ := newSource(t)
		if src.Name() == "" {
			t.Error("Name() is empty; sources are named in logs")
		}
	})
	t.Run("RoundTrip", func(t *testing.T) {
		src, put := newSource(t)
		for i, n := range []int{1, 1000, MinChunk, AvgChunk + 17, MaxChunk} {
			data := RandomBytes(uint64(1000+i), n)
			id := put(data)
			if id != Sum(data) {
				t.Fatalf("put returned id %s for %d bytes whose BLAKE3 is %s", id.Short(), n, Sum(data).Short())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			v, err := src.Fetch(ctx, id)
			got := v.Plain()
			cancel()
			if err != nil {
				t.Fatalf("Fetch %d-byte chunk: %v", n, err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("Fetch %d-byte chunk returned %d different bytes", n, len(got))
			}
		}
	})
	t.Run("Compressible", func(t *testing.T) {
		src, put := newSource(t)
		data := bytes.Repeat([]byte("latus compressible line of text\n"), 20000)
		id := put(data)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		v, err := src.Fetch(ctx, id)
		if got := v.Plain(); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Fetch compressible chunk: %d bytes, err %v; want %d bytes back", len(got), err, len(data))
		}
	})
	t.Run("Unknown", func(t *testing.T) {
		src, put := newSource(t)
		put(RandomBytes(1, 1000)) // the source is up and has something
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		v, err := src.Fetch(ctx, Sum([]byte("a chunk nobody has")))
		if err == nil {
			t.Fatalf("Fetch of an unknown chunk returned %d bytes and no error", len(v.Plain()))
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		src, put := newSource(t)
		const n = 8
		datas := make([][]byte, n)
		ids := make([]ID, n)
		for i := range datas {
			datas[i] = RandomBytes(uint64(2000+i), 64<<10+i)
			ids[i] = put(datas[i])
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		errs := make(chan error, 2*n)
		var wg sync.WaitGroup
		for round := range 2 {
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					v, err := src.Fetch(ctx, ids[i])
					if err == nil && !bytes.Equal(v.Plain(), datas[i]) {
						err = fmt.Errorf("round %d chunk %d: wrong bytes", round, i)
					}
					errs <- err
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})
	t.Run("CancelledContext", func(t *testing.T) {
		src, put := newSource(t)
		id := put(RandomBytes(3, 100_000))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		done := make(chan error, 1)
		go func() {
			_, err := src.Fetch(ctx, id)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Error("Fetch with a cancelled context succeeded")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Fetch with a cancelled context did not return within 10s")
		}
	})
	t.Run("ThroughFetcher", func(t *testing.T) {
		src, put := newSource(t)
		data := RandomBytes(4, AvgChunk)
		id := put(data)
		store := TestStore(t)
		f := TestFetcher(t, store, src)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		got, err := f.Get(ctx, id)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Fetcher.Get through the source: %d bytes, err %v", len(got), err)
		}
		if st, _ := store.Status(id); st != Complete {
			t.Fatalf("after Get the chunk is %s, want complete", st)
		}
		if hs, _ := store.Holders(id); len(hs) != 0 {
			t.Errorf("holders after Get = %q, want none: serving a chunk proves no custody", hs)
		}
		if err := f.FetchAll(ctx, []ID{Sum([]byte("nobody has this"))}, nil); !errors.Is(err, ErrUnavailable) {
			t.Errorf("FetchAll of an unknown chunk: %v, want ErrUnavailable", err)
		}
	})
}

// TestHandOff releases this device's custody of id to device to, as a
// confirmed hand-off would: the chunk becomes an evictable cached copy.
func TestHandOff(t testing.TB, s *Store, id ID, to string) {
	t.Helper()
	if err := handOff(s, id, to); err != nil {
		t.Fatal(err)
	}
}

func handOff(s *Store, id ID, to string) error {
	if err := s.BeginRelease(id); err != nil {
		return err
	}
	return s.EndRelease(id, to, true)
}
