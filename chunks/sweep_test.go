package chunks

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"
)

// refSet is a mark for tests: the chunks "kept versions" reference.
type refSet struct {
	mu  sync.Mutex
	ids map[ID]bool // guarded by mu
}

func (r *refSet) add(ids ...ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ids == nil {
		r.ids = make(map[ID]bool)
	}
	for _, id := range ids {
		r.ids[id] = true
	}
}

func (r *refSet) drop(id ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.ids, id)
}

func (r *refSet) mark(keep func(ID)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.ids {
		keep(id)
	}
	return nil
}

func status(t *testing.T, s *Store, id ID) State {
	t.Helper()
	st, err := s.Status(id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestCollect(t *testing.T) {
	var refs refSet
	s := TestStore(t, func(o *Options) { o.Mark = refs.mark; o.FetchedGrace = time.Hour })
	kept := mustPut(t, s, RandomBytes(1, 1000))
	leaked := mustPut(t, s, RandomBytes(2, 2000)) // as if a crash came before the commit
	pinned := mustPut(t, s, RandomBytes(3, 3000))
	if err := s.Pin(pinned); err != nil {
		t.Fatal(err)
	}
	fetchedData := RandomBytes(4, 4000)
	fetched := Sum(fetchedData)
	tok, err := s.Begin(fetched)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(fetched, tok, fetchedData); err != nil {
		t.Fatal(err)
	}
	refs.add(kept)

	dry, err := s.Collect(true)
	if err != nil || dry != (Collected{Chunks: 1, Bytes: 2000}) {
		t.Fatalf("dry Collect = %+v, %v; want the leaked chunk", dry, err)
	}
	if status(t, s, leaked) != Complete {
		t.Fatal("a dry run removed a chunk")
	}
	got, err := s.Collect(false)
	if err != nil || got != dry {
		t.Fatalf("Collect = %+v, %v; want %+v", got, err, dry)
	}
	for id, want := range map[ID]State{kept: Complete, leaked: Missing, pinned: Complete, fetched: Complete} {
		if st := status(t, s, id); st != want {
			t.Errorf("chunk %s: %s after Collect, want %s", id.Short(), st, want)
		}
	}
	if u := s.Usage(); u.Used != 1000+3000+4000 || diskBytes(t, s) != u.Used {
		t.Fatalf("usage %+v, %d bytes on disk", u, diskBytes(t, s))
	}
	if cs := s.CollectStats(); cs.Runs != 1 || cs.Chunks != 1 || cs.Bytes != 2000 {
		t.Fatalf("CollectStats = %+v", cs)
	}
}

func TestCollectFetchedAfterGrace(t *testing.T) {
	var refs refSet
	s := TestStore(t, func(o *Options) { o.Mark = refs.mark; o.FetchedGrace = time.Nanosecond })
	data := RandomBytes(5, 500)
	id := Sum(data)
	tok, _ := s.Begin(id)
	if err := s.Write(id, tok, data); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond) // the grace is the subject: let a nanosecond pass
	if got, err := s.Collect(false); err != nil || got.Chunks != 1 {
		t.Fatalf("Collect = %+v, %v; want the fetched chunk past its grace", got, err)
	}
}

// TestCollectSparesHeldPuts: chunks put under a Hold survive a collection
// that runs before the commit that references them; once released
// without a commit (a crash's leak) the next collection takes them.
func TestCollectSparesHeldPuts(t *testing.T) {
	var refs refSet
	s := TestStore(t, func(o *Options) { o.Mark = refs.mark })
	committed := RandomBytes(6, 3*MaxChunk)
	abandoned := RandomBytes(7, 2*MaxChunk)

	release := s.Hold()
	crefs, _, _, err := s.PutStream(bytes.NewReader(committed))
	if err != nil {
		t.Fatal(err)
	}
	release2 := s.Hold()
	arefs, _, _, err := s.PutStream(bytes.NewReader(abandoned))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Collect(false); err != nil || got.Chunks != 0 {
		t.Fatalf("Collect while held = %+v, %v; want nothing", got, err)
	}
	for _, r := range crefs {
		refs.add(r.ID) // the commit
	}
	release()
	release2()
	got, err := s.Collect(false)
	if err != nil || got.Chunks != len(arefs) {
		t.Fatalf("Collect after release = %+v, %v; want the %d abandoned chunks", got, err, len(arefs))
	}
	for _, r := range crefs {
		if status(t, s, r.ID) != Complete {
			t.Fatalf("committed chunk %s collected", r.ID.Short())
		}
	}
}

// TestCollectRacesCommits runs writers (hold, put, commit, release) against
// a collector in a loop: no committed chunk is ever lost.
func TestCollectRacesCommits(t *testing.T) {
	var refs refSet
	s := TestStore(t, func(o *Options) { o.Mark = refs.mark })
	stop := make(chan struct{})
	collected := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				collected <- nil
				return
			default:
			}
			if _, err := s.Collect(false); err != nil {
				collected <- err
				return
			}
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []ID
	for w := range 4 {
		wg.Go(func() {
			for i := range 40 {
				data := RandomBytes(uint64(1000*w+i), 1000+i)
				release := s.Hold()
				id, err := s.Put(data)
				if err != nil {
					t.Error(err)
					release()
					return
				}
				if i%2 == 0 { // a dedup hit of an earlier chunk, the same race
					id2, err := s.Put(RandomBytes(uint64(1000*w), 1000))
					if err != nil {
						t.Error(err)
					}
					refs.add(id2)
				}
				refs.add(id)
				release()
				mu.Lock()
				all = append(all, id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stop)
	if err := <-collected; err != nil {
		t.Fatal(err)
	}
	for _, id := range all {
		if status(t, s, id) != Complete {
			t.Fatalf("committed chunk %s was collected", id.Short())
		}
	}
}

// TestPressureReleasesHistory: under a cap, a write that does not fit asks
// Relieve, which drops the oldest "history"; the write then succeeds. When
// Relieve has nothing left the write fails with ErrFull.
func TestPressureReleasesHistory(t *testing.T) {
	var refs refSet
	var mu sync.Mutex
	var history []ID // oldest first, referenced until released
	var needs []int64
	relieve := func(need int64) bool {
		mu.Lock()
		defer mu.Unlock()
		needs = append(needs, need)
		if len(history) == 0 {
			return false
		}
		refs.drop(history[0])
		history = history[1:]
		return true
	}
	s := TestStore(t, func(o *Options) {
		o.Capacity = 3 * AvgChunk
		o.Mark = refs.mark
		o.Relieve = relieve
	})
	put := func(seed uint64) (ID, error) {
		release := s.Hold()
		defer release()
		id, err := s.Put(RandomBytes(seed, AvgChunk))
		if err == nil {
			refs.add(id)
		}
		return id, err
	}
	var last ID
	for i := range 10 {
		id, err := put(uint64(100 + i))
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if i > 0 { // the previous write becomes history
			mu.Lock()
			history = append(history, last)
			mu.Unlock()
		}
		last = id
	}
	if u := s.Usage(); u.Used > 3*AvgChunk || status(t, s, last) != Complete {
		t.Fatalf("usage %+v; last write %s", u, status(t, s, last))
	}
	if cs := s.CollectStats(); cs.Relieved < 7 {
		t.Fatalf("CollectStats = %+v; want a relief per write past the cap", cs)
	}
	// Nothing left to release: the current data stays, the write fails.
	mu.Lock()
	history = nil
	mu.Unlock()
	s2 := TestStore(t, func(o *Options) { o.Capacity = AvgChunk; o.Mark = refs.mark; o.Relieve = relieve })
	if _, err := s2.Put(RandomBytes(200, AvgChunk)); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Put(RandomBytes(201, AvgChunk)); !errors.Is(err, ErrFull) {
		t.Fatalf("Put with nothing to release = %v, want ErrFull", err)
	}
}

// TestCollectSparesCommitAfterMark: a writer commits and releases after
// the collection took its mark but before it swept: the chunk, named by
// no mark yet, must survive.
func TestCollectSparesCommitAfterMark(t *testing.T) {
	var refs refSet
	var release func()
	var committed ID
	mark := func(keep func(ID)) error {
		if err := refs.mark(keep); err != nil {
			return err
		}
		refs.add(committed) // the commit lands just after the mark was read
		release()
		return nil
	}
	s := TestStore(t, func(o *Options) { o.Mark = mark })
	release = s.Hold()
	committed = mustPut(t, s, RandomBytes(9, 5000))
	if got, err := s.Collect(false); err != nil || got.Chunks != 0 {
		t.Fatalf("Collect = %+v, %v; want nothing", got, err)
	}
	if status(t, s, committed) != Complete {
		t.Fatal("a chunk committed between mark and sweep was collected")
	}
}

// TestCollectKeepsCustody: with KeepUnreplicated, an unreferenced chunk in
// custody that no other device keeps survives collection (other devices
// may show a version of it); with Verify, one that others keep goes only
// once Verify reports a holder took it over. Without either, collection
// drops both (a local-only store frees its pruned history).
func TestCollectKeepsCustody(t *testing.T) {
	for _, tc := range []struct {
		name             string
		keepUnreplicated bool
		verified         bool // Verify set and answers that the holder took it
		wantLocal        State
		wantHeld         State
	}{
		{"local-only store", false, false, Missing, Missing},
		{"unreplicated kept", true, false, Complete, Missing},
		{"holder did not prove", true, false, Complete, Missing},
		{"holder proved", true, true, Complete, Complete},
		// The daemon sets Verify whether or not it has peers: a chunk no
		// other device keeps is never asked about, so a local-only mount
		// still frees its pruned history.
		{"local-only store with Verify", false, false, Missing, Missing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var refs refSet
			var asked []ID
			s := TestStore(t, func(o *Options) {
				o.Mark = refs.mark
				o.KeepUnreplicated = tc.keepUnreplicated
				if tc.name == "holder did not prove" || tc.name == "local-only store with Verify" || tc.verified {
					o.Verify = func(ids []ID) []ID {
						asked = append(asked, ids...)
						if tc.verified {
							return ids
						}
						return nil
					}
				}
			})
			local := mustPut(t, s, RandomBytes(31, 1000))
			held := mustPut(t, s, RandomBytes(32, 1000))
			if err := s.AddHolder(held, "other"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Collect(false); err != nil {
				t.Fatal(err)
			}
			if st := status(t, s, local); st != tc.wantLocal {
				t.Errorf("unreplicated chunk: %s, want %s", st, tc.wantLocal)
			}
			wantHeld := tc.wantHeld
			if s.verify != nil && !tc.verified {
				wantHeld = Complete // nobody proved: still kept
			}
			if st := status(t, s, held); st != wantHeld {
				t.Errorf("chunk another device keeps: %s, want %s", st, wantHeld)
			}
			if tc.verified {
				if in, _ := s.Stat(held); in.Custody {
					t.Error("custody kept after the holder proved it took the chunk over")
				}
				if got, err := s.Collect(false); err != nil || got.Chunks != 1 {
					t.Errorf("next Collect = %+v, %v; want the chunk given up", got, err)
				}
			}
			if s.verify != nil && (len(asked) != 1 || asked[0] != held) {
				t.Errorf("Verify asked about %v, want only the held chunk", asked)
			}
		})
	}
}
