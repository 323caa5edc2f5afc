package meta

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// syncAll exchanges every device's index with every other, in rounds,
// until nothing new is recorded anywhere.
func syncAll(t *testing.T, page int, dbs ...*DB) {
	t.Helper()
	for round := 0; ; round++ {
		if round > 20 {
			t.Fatalf("no quiescence after %d rounds", round)
		}
		before := make([]uint64, len(dbs))
		for i, db := range dbs {
			before[i] = db.IndexSeq()
		}
		for _, to := range dbs {
			for _, from := range dbs {
				if to != from {
					TestSync(t, to, from, page)
				}
			}
		}
		same := true
		for i, db := range dbs {
			same = same && db.IndexSeq() == before[i]
		}
		if same {
			return
		}
	}
}

// tree returns every live version of db, walked from the root, as
// encodings keyed by path.
func tree(t *testing.T, db *DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(dir string)
	walk = func(dir string) {
		vs, err := db.List(dir)
		if err != nil {
			t.Fatalf("%s: List(%q): %v", db.Device(), dir, err)
		}
		for _, v := range vs {
			l, err := db.Lookup(v.Path)
			if err != nil || !sameVersion(l, v) {
				t.Fatalf("%s: Lookup(%q) disagrees with List: %v", db.Device(), v.Path, err)
			}
			b, _ := v.MarshalBinary()
			out[v.Path] = string(b)
			if v.Kind == KindDir {
				walk(v.Path)
			}
		}
	}
	walk("")
	return out
}

func assertSameTree(t *testing.T, dbs ...*DB) {
	t.Helper()
	first := tree(t, dbs[0])
	for _, db := range dbs[1:] {
		other := tree(t, db)
		for p, enc := range first {
			if o, ok := other[p]; !ok {
				t.Errorf("%s has %q, %s does not", dbs[0].Device(), p, db.Device())
			} else if o != enc {
				a, _ := decodeVersion([]byte(enc))
				b, _ := decodeVersion([]byte(o))
				t.Errorf("%q differs:\n %s: %+v\n %s: %+v", p, dbs[0].Device(), a, db.Device(), b)
			}
		}
		for p := range other {
			if _, ok := first[p]; !ok {
				t.Errorf("%s has %q, %s does not", db.Device(), p, dbs[0].Device())
			}
		}
	}
	// Stats are kept incrementally: they must match the tree.
	for _, db := range dbs {
		var s Stats
		for _, enc := range tree(t, db) {
			v, _ := decodeVersion([]byte(enc))
			if v.Kind == KindDir {
				s.Dirs++
			} else {
				s.Files++
				if v.Kind == KindFile {
					s.Bytes += v.Size
				}
			}
		}
		got := db.Stats()
		got.Versions = 0
		if got != s {
			t.Errorf("%s: Stats = %+v, tree has %+v", db.Device(), got, s)
		}
	}
}

// randomOp applies one random local change (which may fail: failed
// commits change nothing).
func randomOp(r *rand.Rand, db *DB, now time.Time) {
	dirs := []string{"", "d0", "d1", "d0/e"}
	dir := dirs[r.IntN(len(dirs))]
	p := join(dir, fmt.Sprintf("f%d", r.IntN(3)))
	mtime := now.Add(time.Duration(r.IntN(3)) * time.Second) // ties happen
	var c Change
	switch r.IntN(10) {
	case 0, 1, 2, 3:
		data := []byte(fmt.Sprintf("%s by %s #%d", p, db.Device(), r.IntN(4)))
		c = Change{Kind: Created, Path: p, File: FileContent(data, mtime)}
		if _, err := db.Lookup(p); err == nil {
			c.Kind = Modified
		}
	case 4:
		c = Change{Kind: Created, Path: []string{"d0", "d1", "d0/e"}[r.IntN(3)], File: DirContent(mtime)}
	case 5, 6:
		c = Change{Kind: Deleted, Path: p, File: FileVersion{MTime: mtime}}
	case 7:
		c = Change{Kind: Deleted, Path: dirs[1+r.IntN(3)], File: FileVersion{MTime: mtime}}
	case 8:
		c = Change{Kind: Renamed, From: p, Path: join(dirs[r.IntN(len(dirs))], fmt.Sprintf("f%d", r.IntN(3)))}
	case 9:
		c = Change{Kind: Renamed, From: dirs[1+r.IntN(3)], Path: []string{"d0", "d1", "d2"}[r.IntN(3)]}
	}
	_, _ = db.Commit([]Change{c})
}

// TestConvergence runs random concurrent edits on three devices with
// partial, differently ordered syncs in between, then lets them exchange
// everything: all three must show the same live tree, conflict copies
// included, and no live path may be left under a non-directory.
func TestConvergence(t *testing.T) {
	seeds := 12
	if n := os.Getenv("META_SEEDS"); n != "" {
		seeds, _ = strconv.Atoi(n)
	}
	if testing.Short() {
		seeds = 4
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(seed), 7))
			dbs := []*DB{TestDB(t, "A"), TestDB(t, "B"), TestDB(t, "C")}
			now := t0
			for step := range 150 {
				now = now.Add(time.Second)
				randomOp(r, dbs[r.IntN(3)], now)
				if step%10 == 9 {
					to, from := dbs[r.IntN(3)], dbs[r.IntN(3)]
					if to != from {
						TestSync(t, to, from, 1+r.IntN(10))
					}
				}
			}
			order := r.Perm(3)
			syncAll(t, 1+r.IntN(20), dbs[order[0]], dbs[order[1]], dbs[order[2]])
			assertSameTree(t, dbs...)
			assertNoOrphans(t, dbs[0])
		})
	}
}

// assertNoOrphans checks that every live path's parent is a live directory.
func assertNoOrphans(t *testing.T, db *DB) {
	t.Helper()
	var orphans []string
	err := db.view(func(tx *txn) error {
		return tx.files.ForEach(func(k, val []byte) error {
			v, err := decodeStored(val, string(k))
			if err != nil {
				return err
			}
			if v.Deleted || parent(v.Path) == "" {
				return nil
			}
			if err := tx.checkDir(parent(v.Path)); err != nil {
				orphans = append(orphans, fmt.Sprintf("live %q under %v", v.Path, err))
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range orphans {
		t.Errorf("%s: %s", db.Device(), o)
	}
}

// TestConvergenceOrders merges the same three histories in every order of
// devices and checks the final trees are identical across runs too.
func TestConvergenceOrders(t *testing.T) {
	build := func(t *testing.T) []*DB {
		dbs := []*DB{TestDB(t, "A"), TestDB(t, "B"), TestDB(t, "C")}
		for _, db := range dbs {
			TestMkdir(t, db, "shared", t0)
		}
		for i, db := range dbs {
			TestWrite(t, db, "shared/doc.txt", []byte("edit by "+db.Device()), t0.Add(time.Duration(i%2)*time.Minute))
			TestWrite(t, db, "own-"+db.Device(), []byte("x"), t0)
		}
		TestCommit(t, dbs[2], Change{Kind: Deleted, Path: "shared/doc.txt"})
		return dbs
	}
	var want map[string]string
	for _, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 2, 0}} {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			dbs := build(t)
			// Pairwise first, in this order, one version per page.
			TestSync(t, dbs[order[0]], dbs[order[1]], 1)
			TestSync(t, dbs[order[1]], dbs[order[2]], 1)
			syncAll(t, 1, dbs[order[0]], dbs[order[1]], dbs[order[2]])
			assertSameTree(t, dbs...)
			got := tree(t, dbs[0])
			paths := slices.Sorted(func(yield func(string) bool) {
				for p := range got {
					if !yield(p) {
						return
					}
				}
			})
			conflicts := 0
			for _, p := range paths {
				if IsConflictCopy(p) {
					conflicts++
				}
			}
			if conflicts != 2 {
				// B's edit is the newest and wins. A's loses and is kept
				// aside; so is C's: C deleted it afterwards, but every
				// device merges C's edit before C's deletion (index order),
				// and a version once kept aside stays.
				t.Errorf("%d conflict copies in %v, want 2", conflicts, paths)
			}
			if want == nil {
				want = got
			} else if len(want) != len(got) {
				t.Fatalf("tree differs between merge orders: %v", paths)
			} else {
				for p, enc := range want {
					if got[p] != enc {
						t.Fatalf("%q differs between merge orders", p)
					}
				}
			}
		})
	}
}
