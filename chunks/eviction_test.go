package chunks

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

const kb = 100_000 // chunk size of the eviction tests (random: stored as is)

func capStore(t *testing.T, capacity int64) *Store {
	return TestStore(t, func(o *Options) { o.Capacity = capacity })
}

func TestFullWhenNothingEvictable(t *testing.T) {
	s := capStore(t, 3*kb)
	var ids []ID
	for i := range 3 {
		ids = append(ids, mustPut(t, s, RandomBytes(uint64(i), kb)))
	}
	if err := s.Pin(ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := handOff(s, ids[0], "peer"); err != nil { // held but pinned
		t.Fatal(err)
	}
	before := s.Usage()
	extra := RandomBytes(99, kb)
	_, err := s.Put(extra)
	if !errors.Is(err, ErrFull) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put over the cap with nothing evictable: %v, want ErrFull/ENOSPC", err)
	}
	wantState(t, s, Sum(extra), Missing)
	if after := s.Usage(); after != before {
		t.Errorf("a refused Put changed usage: %+v → %+v", before, after)
	}
	if n := countChunkFiles(t, s); n != 3 {
		t.Errorf("%d chunk files, want the 3 kept", n)
	}
	for _, id := range ids {
		wantState(t, s, id, Complete)
	}
	// A fetched chunk is refused the same way and the fetch keeps its token.
	tok := mustBegin(t, s, Sum(extra))
	if err := s.Write(Sum(extra), tok, extra); !errors.Is(err, ErrFull) {
		t.Fatalf("Write over the cap: %v, want ErrFull", err)
	}
	wantState(t, s, Sum(extra), InProgress)
	// Once another device holds a chunk, room can be made.
	if err := handOff(s, ids[1], "peer"); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(Sum(extra), tok, extra); err != nil {
		t.Fatalf("Write once a chunk is evictable: %v", err)
	}
	wantState(t, s, ids[1], Missing)
}

func TestCapHoldsUnderStream(t *testing.T) {
	const capacity = 2 << 20
	for _, tc := range []struct {
		name  string
		write func(t *testing.T, s *Store, data []byte) ID
	}{
		{"put+markheld", func(t *testing.T, s *Store, data []byte) ID {
			id := mustPut(t, s, data)
			if err := handOff(s, id, "peer"); err != nil {
				t.Fatal(err)
			}
			return id
		}},
		{"fetched", func(t *testing.T, s *Store, data []byte) ID {
			id := Sum(data)
			if err := s.Write(id, mustBegin(t, s, id), data); err != nil {
				t.Fatal(err)
			}
			return id
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := capStore(t, capacity)
			var last ID
			for i := range 60 {
				size := 50_000 + (i*7919)%MaxChunk/4
				var data []byte
				if i%3 == 0 {
					data = textBytes(size + i) // compressible: stored smaller
				} else {
					data = RandomBytes(uint64(i), size)
				}
				last = tc.write(t, s, data)
				u := s.Usage()
				if u.Used > capacity+MaxChunk {
					t.Fatalf("after write %d: used %d, cap %d + max chunk", i, u.Used, capacity)
				}
				if u.Used > capacity {
					t.Errorf("after write %d: used %d over the cap %d", i, u.Used, capacity)
				}
				if disk := diskBytes(t, s); disk != u.Used {
					t.Fatalf("after write %d: %d bytes on disk, Usage says %d", i, disk, u.Used)
				}
			}
			wantState(t, s, last, Complete)
		})
	}
}

func TestCapHoldsWithParallelWriters(t *testing.T) {
	const capacity = 1 << 20
	s := capStore(t, capacity)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 12 {
				data := RandomBytes(uint64(w*1000+i), 60_000+w*1000)
				id, err := s.Put(data)
				if err == nil {
					err = handOff(s, id, "peer")
				}
				if err != nil {
					errs <- fmt.Errorf("writer %d put %d: %w", w, i, err)
					return
				}
				if u := s.Usage(); u.Used > capacity {
					errs <- fmt.Errorf("used %d over cap %d", u.Used, capacity)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if disk, u := diskBytes(t, s), s.Usage(); disk != u.Used || u.Used > capacity {
		t.Errorf("disk %d, Usage %+v, cap %d", disk, u, capacity)
	}
}

func TestPinnedNeverEvicted(t *testing.T) {
	s := capStore(t, 4*kb)
	pinned := mustPut(t, s, RandomBytes(1000, kb))
	if err := handOff(s, pinned, "peer"); err != nil {
		t.Fatal(err)
	}
	if err := s.Pin(pinned); err != nil {
		t.Fatal(err)
	}
	local := mustPut(t, s, RandomBytes(1001, kb)) // local-only
	for i := range 20 {
		id := mustPut(t, s, RandomBytes(uint64(i), kb))
		if err := handOff(s, id, "peer"); err != nil {
			t.Fatal(err)
		}
	}
	wantState(t, s, pinned, Complete)
	wantState(t, s, local, Complete)
	// Unpinned, it is the oldest and goes first.
	if err := s.Unpin(pinned); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, RandomBytes(2000, kb))
	wantState(t, s, pinned, Missing)
	wantState(t, s, local, Complete)
}

func TestEvictionIsLRU(t *testing.T) {
	for _, reopen := range []bool{false, true} {
		t.Run(fmt.Sprintf("reopen=%v", reopen), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "chunks")
			opts := Options{Dir: dir, Capacity: 3 * kb, MemCache: -1}
			s, err := Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { s.Close() }()
			var ids []ID
			for i := range 3 {
				id := mustPut(t, s, RandomBytes(uint64(i), kb))
				if err := handOff(s, id, "peer"); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			if _, err := s.Read(ids[0]); err != nil { // A is now the most recent
				t.Fatal(err)
			}
			if reopen { // access times survive a restart
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				if s, err = Open(opts); err != nil {
					t.Fatal(err)
				}
			}
			mustPut(t, s, RandomBytes(10, kb))
			wantState(t, s, ids[0], Complete)
			wantState(t, s, ids[1], Missing) // least recently used
			wantState(t, s, ids[2], Complete)
			if _, _, err := s.ReadStored(ids[2]); err != nil { // serving a peer counts as use
				t.Fatal(err)
			}
			mustPut(t, s, RandomBytes(11, kb))
			wantState(t, s, ids[0], Missing)
			wantState(t, s, ids[2], Complete)
		})
	}
}

func TestChunkBiggerThanCap(t *testing.T) {
	s := capStore(t, kb)
	if _, err := s.Put(RandomBytes(1, 2*kb)); !errors.Is(err, ErrFull) {
		t.Fatalf("Put of a chunk bigger than the cap: %v, want ErrFull", err)
	}
}

// diskBytes sums the sizes of the chunk files.
func diskBytes(t testing.TB, s *Store) int64 {
	t.Helper()
	var n int64
	files, _ := filepath.Glob(filepath.Join(s.dir, "??", "*"))
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}
