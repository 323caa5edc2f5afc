package meta

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable Options.Now.
type fakeClock struct{ unix atomic.Int64 }

func (c *fakeClock) now() time.Time { return time.Unix(c.unix.Load(), 0) }
func (c *fakeClock) set(sec int64)  { c.unix.Store(sec) }

func openAt(t *testing.T, path, device string, clock *fakeClock) *DB {
	t.Helper()
	db, err := Open(path, Options{Device: device, Logger: TestLogger(t), Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestCounterFollowsWallClock(t *testing.T) {
	for _, tc := range []struct {
		name   string
		clocks []int64 // clock at each successive local write
		want   []uint64
	}{
		{"clock ahead of the counter", []int64{1000, 2000}, []uint64{1000, 2000}},
		{"several writes in one second", []int64{1000, 1000, 1000}, []uint64{1000, 1001, 1002}},
		{"clock set back", []int64{5000, 10, 10}, []uint64{5000, 5001, 5002}},
		{"clock before 1970", []int64{-5, -5}, []uint64{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var clock fakeClock
			db := openAt(t, filepath.Join(t.TempDir(), "meta.db"), "a", &clock)
			for i, sec := range tc.clocks {
				clock.set(sec)
				v := TestWrite(t, db, "f", []byte{byte(i)}, t0)
				if v.Seq != tc.want[i] || v.Vector["a"] != tc.want[i] {
					t.Fatalf("write %d at %d: seq %d vector %v, want %d", i, sec, v.Seq, v.Vector, tc.want[i])
				}
			}
		})
	}
}

// copyFile copies a closed bbolt file, as a user copying a state dir does.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRestoredStateDirWins: device a's meta.db is copied, a writes r.txt
// three times (b sees the third), the copy is put back and a writes
// "four": b must show "four", whether the copy learnt a's later counters
// from b's index first or only the clock moved on. (A copy restored with
// the clock set back before its later writes still wins on counters, but
// its index positions fall below the one b remembers: b finds the new
// version only once a's index passes it again.)
func TestRestoredStateDirWins(t *testing.T) {
	for _, tc := range []struct {
		name        string
		mergeFirst  bool  // the restored copy merges b's index before writing
		clockAfter  int64 // clock of the restored copy's write
		wantOnB     string
		wantHistory int // versions of r.txt on b
	}{
		{"clock moved on", false, 2000, "four", 4},
		{"merged before writing, same second", true, 1000, "four", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var clockA, clockB fakeClock
			clockA.set(1000)
			clockB.set(1000)
			dir := t.TempDir()
			pathA := filepath.Join(dir, "a.db")
			a, err := Open(pathA, Options{Device: "a", Logger: TestLogger(t), Now: clockA.now})
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			copyFile(t, pathA, filepath.Join(dir, "copy.db"))
			a = openAt(t, pathA, "a", &clockA)
			b := openAt(t, filepath.Join(dir, "b.db"), "b", &clockB)
			for _, s := range []string{"one", "two", "three"} {
				TestWrite(t, a, "r.txt", []byte(s), t0)
				TestSync(t, b, a, 0)
			}
			a.Close()
			if err := os.Rename(filepath.Join(dir, "copy.db"), pathA); err != nil {
				t.Fatal(err)
			}
			clockA.set(tc.clockAfter)
			a = openAt(t, pathA, "a", &clockA)
			if tc.mergeFirst {
				TestSync(t, a, b, 0)
			}
			TestWrite(t, a, "r.txt", []byte("four"), t0)
			TestSync(t, b, a, 0)
			TestSync(t, a, b, 0)
			for _, db := range []*DB{a, b} {
				v, err := db.Lookup("r.txt")
				if err != nil || v.Hash != FileContent([]byte(tc.wantOnB), t0).Hash {
					t.Fatalf("%s shows %+v, %v; want %q", db.Device(), v, err, tc.wantOnB)
				}
			}
			if h, _ := b.History("r.txt"); len(h) != tc.wantHistory {
				t.Fatalf("b keeps %d versions of r.txt, want %d", len(h), tc.wantHistory)
			}
		})
	}
}

// TestAdoptHugeCounter: a peer that sends a version naming a large
// counter of this device (within the bound) does not freeze the path: the
// next local write counts above it.
func TestAdoptHugeCounter(t *testing.T) {
	var clock fakeClock
	clock.set(1000)
	a := openAt(t, filepath.Join(t.TempDir(), "a.db"), "a", &clock)
	huge := uint64(1000 + maxCounterAhead)
	v := remote("f", FileContent([]byte("theirs"), t0), "b", 5, Vector{"a": huge, "b": 5})
	if _, err := a.Merge("b", []FileVersion{v}, 1); err != nil {
		t.Fatal(err)
	}
	mine := TestWrite(t, a, "f", []byte("mine"), t0)
	if mine.Seq != huge+1 || mine.Vector.Compare(v.Vector) != After {
		t.Fatalf("local write after a huge counter: seq %d vector %v", mine.Seq, mine.Vector)
	}
	other := TestWrite(t, a, "g", []byte("other path"), t0)
	if other.Seq != huge+2 {
		t.Fatalf("the adopted counter did not persist across paths: seq %d", other.Seq)
	}
}

func TestRefuseCounterAboveBound(t *testing.T) {
	var clock fakeClock
	clock.set(1000)
	limit := uint64(1000 + maxCounterAhead)
	for _, tc := range []struct {
		name   string
		v      FileVersion
		refuse bool
	}{
		{"at the bound", remote("f", FileContent([]byte("x"), t0), "b", limit, Vector{"b": limit}), false},
		{"own counter above", remote("f", FileContent([]byte("x"), t0), "b", limit+1, Vector{"b": limit + 1}), true},
		{"this device's counter above", remote("f", FileContent([]byte("x"), t0), "b", 1, Vector{"a": ^uint64(0), "b": 1}), true},
		{"third device above", remote("f", FileContent([]byte("x"), t0), "b", 1, Vector{"c": 1 << 63, "b": 1}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := openAt(t, filepath.Join(t.TempDir(), "a.db"), "a", &clock)
			ok := remote("ok", FileContent([]byte("fine"), t0), "b", 1, Vector{"b": 1})
			_, err := a.Merge("b", []FileVersion{ok, tc.v}, 2)
			if !tc.refuse {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidVersion) {
				t.Fatalf("Merge = %v, want ErrInvalidVersion", err)
			}
			if pos, _ := a.PeerPos("b"); pos != 0 || a.Stats() != (Stats{}) {
				t.Fatalf("a refused page changed the store: pos %d stats %+v", pos, a.Stats())
			}
			if v := TestWrite(t, a, "g", []byte("y"), t0); v.Seq != 1000 {
				t.Fatalf("a refused page moved the counter: seq %d", v.Seq)
			}
		})
	}
}

// TestRestoredIndexContinues: a restored copy's index positions continue
// above the positions peers remember, once the clock has moved on.
func TestRestoredIndexContinues(t *testing.T) {
	var clock fakeClock
	clock.set(1000)
	dir := t.TempDir()
	pathA := filepath.Join(dir, "a.db")
	a, err := Open(pathA, Options{Device: "a", Logger: TestLogger(t), Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	copyFile(t, pathA, filepath.Join(dir, "copy.db"))
	a = openAt(t, pathA, "a", &clock)
	for i := range 3 {
		TestWrite(t, a, "f", []byte{byte(i)}, t0)
	}
	seen := a.IndexSeq()
	a.Close()
	clock.set(1001)
	restored := openAt(t, filepath.Join(dir, "copy.db"), "a", &clock)
	TestWrite(t, restored, "f", []byte("four"), t0)
	vs, _, err := restored.Since(seen, 0)
	if err != nil || len(vs) != 1 || vs[0].Hash != FileContent([]byte("four"), t0).Hash {
		t.Fatalf("Since(%d) on the restored copy = %d versions, %v; want the new one", seen, len(vs), err)
	}
}

// A peer asking past this index's newest position saw an index this
// device no longer has (its state dir restored from an older copy, the
// clock behind): it gets the whole index again, and positions recorded
// from then on are above the one it asked for, so it pulls them.
func TestSinceAfterRestoreServesEverything(t *testing.T) {
	a := TestDB(t, "a") // the clock stands still: positions 1, 2, 3…
	TestWrite(t, a, "f", []byte("one"), time.Unix(1, 0))
	TestWrite(t, a, "g", []byte("two"), time.Unix(2, 0))
	const peerPos = 1000 // what the peer reached before the restore
	vs, next, err := a.Since(peerPos, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 {
		t.Fatalf("Since(%d) = %d versions, want the whole index (2)", peerPos, len(vs))
	}
	TestWrite(t, a, "h", []byte("three"), time.Unix(3, 0))
	vs, _, err = a.Since(max(next, peerPos), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].Path != "h" {
		t.Fatalf("after the restore, a version recorded is not above the peer's position: %+v", vs)
	}
}
