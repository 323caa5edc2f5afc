package meta

import (
	"path/filepath"
	"testing"
	"time"
)

// A state dir restored from an older copy, with a clock that does not
// move past the positions given out since the copy (EpochClock stands
// still: positions 1, 2, 3…), gives out positions its peers already
// merged up to. The new epoch makes them read again from the copy's last
// position; without it they would never see the new version.
func TestPullFromRestoredIndex(t *testing.T) {
	tests := []struct {
		name      string
		announce  bool // the restored device announces its epoch
		wantFound bool
	}{
		{"epoch announced", true, true},
		{"no epoch (an older device)", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var clock fakeClock // stands at 0: positions 1, 2, 3…
			dir := t.TempDir()
			pa, snap := filepath.Join(dir, "a.db"), filepath.Join(dir, "snap.db")
			a := openAt(t, pa, "a", &clock)
			b := TestDB(t, "b")
			TestWrite(t, a, "f", []byte("one"), time.Unix(1, 0))
			TestSync(t, b, a, 0)
			a.Close()
			copyFile(t, pa, snap) // the copy: position 1
			a = openAt(t, pa, "a", &clock)
			TestWrite(t, a, "g", []byte("two"), time.Unix(2, 0)) // position 2, lost with a
			TestSync(t, b, a, 0)
			a.Close()

			r := openAt(t, snap, "a", &clock) // restored: positions from 2 again
			if e := r.Epoch(); e.Base != 1 || e.ID == 0 {
				t.Fatalf("restored epoch = %+v, want base 1 and an id", e)
			}
			TestWrite(t, r, "h", []byte("three"), time.Unix(3, 0)) // position 2 again
			e := r.Epoch()
			if !tc.announce {
				e = Epoch{}
			}
			pos, err := b.PullFrom("a", e)
			if err != nil {
				t.Fatal(err)
			}
			vs, next, err := r.Since(pos, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.MergeAt("a", e.ID, vs, next); err != nil {
				t.Fatal(err)
			}
			_, err = b.Lookup("h")
			if found := err == nil; found != tc.wantFound {
				t.Fatalf("h found on b = %v (pulled from %d), want %v", found, pos, tc.wantFound)
			}
		})
	}
}

// A page served under an epoch the device has since left (in flight when
// it restarted) still merges its versions, but does not move the position.
func TestMergeAtStaleEpochKeepsPosition(t *testing.T) {
	a, b := TestDB(t, "a"), TestDB(t, "b")
	TestWrite(t, a, "f", []byte("one"), time.Unix(1, 0))
	TestWrite(t, a, "g", []byte("two"), time.Unix(2, 0))
	vs, next, err := a.Since(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	newer := Epoch{ID: a.Epoch().ID + 1, Base: 1}
	if _, err := b.PullFrom("a", newer); err != nil {
		t.Fatal(err)
	}
	if _, err := b.MergeAt("a", a.Epoch().ID, vs, next); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lookup("g"); err != nil {
		t.Fatalf("the stale page's versions were not merged: %v", err)
	}
	if pos, _ := b.PeerPos("a"); pos != 0 {
		t.Fatalf("position after a stale page = %d, want 0 (unchanged)", pos)
	}
	if _, err := b.MergeAt("a", newer.ID, vs, next); err != nil {
		t.Fatal(err)
	}
	if pos, _ := b.PeerPos("a"); pos != next {
		t.Fatalf("position after a current page = %d, want %d", pos, next)
	}
}
