package meta

import (
	"slices"
	"testing"
	"time"

	"github.com/uberan/latus/chunks"
)

const day = 24 * time.Hour

func TestPolicyKeeps(t *testing.T) {
	now := time.Date(2025, 6, 30, 12, 0, 0, 0, time.UTC)
	pol := Policy{KeepAll: 30 * day, Daily: 365 * day, Deleted: 90 * day}
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	for _, tc := range []struct {
		name    string
		mtimes  []time.Time // oldest first; the last is current unless deleted says otherwise
		deleted bool        // the current (last) version is a tombstone
		want    []bool
	}{
		{"all recent", []time.Time{ago(3 * day), ago(2 * day), ago(time.Hour)}, false, []bool{true, true, true}},
		{"current is kept however old", []time.Time{ago(800 * day)}, false, []bool{true}},
		{"replaced more than a year ago", []time.Time{ago(400 * day), ago(380 * day), ago(370 * day)}, false, []bool{false, false, true}},
		{"age counts from the replacement", []time.Time{ago(400 * day), ago(380 * day), ago(day)}, false, []bool{false, true, true}},
		{"untouched for two years, then changed", []time.Time{ago(730 * day), ago(2 * day)}, false, []bool{true, true}},
		{"one a day between a month and a year: the day's newest",
			[]time.Time{ago(40*day + 3*time.Hour), ago(40*day + 2*time.Hour), ago(40*day + time.Hour), ago(39 * day), ago(day)}, false,
			[]bool{false, true, true, true, true}},
		{"replaced on either side of 30 days", []time.Time{ago(32*day + 2*time.Hour), ago(32*day + time.Hour), ago(32 * day), ago(29 * day)}, false,
			[]bool{false, true, true, true}},
		{"deleted recently: the usual rules", []time.Time{ago(60 * day), ago(50 * day), ago(10 * day)}, true, []bool{true, true, true}},
		{"untouched for two years, deleted yesterday: the content stays", []time.Time{ago(730 * day), ago(day)}, true, []bool{true, true}},
		{"deleted more than 90 days ago: only the tombstone", []time.Time{ago(200 * day), ago(95 * day), ago(91 * day)}, true, []bool{false, false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hist := make([]FileVersion, len(tc.mtimes))
			protected := make([]bool, len(hist))
			for i, mt := range tc.mtimes {
				hist[i] = FileVersion{Path: "f", Kind: KindFile, MTime: mt}
			}
			hist[len(hist)-1].Deleted = tc.deleted
			protected[len(hist)-1] = true
			got := pol.keeps(hist, protected, hist[len(hist)-1], now)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("keeps = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	if err := DefaultPolicy().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []Policy{{KeepAll: -1}, {KeepAll: 10 * day, Daily: 5 * day}} {
		if p.Validate() == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

// oldWrites writes f n times, a day apart, ending two years before now.
func oldWrites(t *testing.T, db *DB, p string, n int, now time.Time) []FileVersion {
	t.Helper()
	var out []FileVersion
	for i := range n {
		out = append(out, TestWrite(t, db, p, []byte{byte(i), 'x'}, now.Add(-730*day+time.Duration(i)*day)))
	}
	return out
}

func TestPruneNeverRemovesCurrent(t *testing.T) {
	now := t0.Add(1000 * day)
	db := TestDB(t, "a")
	oldWrites(t, db, "f", 5, now)
	TestWrite(t, db, "g", []byte("g"), now.Add(-800*day))
	before := db.Stats()

	dry, err := db.Prune(DefaultPolicy(), now, true)
	if err != nil || dry.Versions != 4 || dry.Bytes != 8 {
		t.Fatalf("dry run = %+v, %v; want 4 versions, 8 bytes", dry, err)
	}
	if db.Stats() != before {
		t.Fatalf("dry run changed the stats: %+v → %+v", before, db.Stats())
	}
	res, err := db.Prune(DefaultPolicy(), now, false)
	if err != nil || res != dry {
		t.Fatalf("Prune = %+v, %v; want %+v", res, err, dry)
	}
	for p, want := range map[string][]byte{"f": {4, 'x'}, "g": []byte("g")} {
		v, err := db.Lookup(p)
		if err != nil || v.Hash != FileContent(want, t0).Hash {
			t.Fatalf("%s after prune: %+v, %v", p, v, err)
		}
		if h, _ := db.History(p); len(h) != 1 {
			t.Fatalf("%s keeps %d versions, want the current one", p, len(h))
		}
	}
	if got := db.Stats().Versions; got != before.Versions-4 {
		t.Fatalf("Stats.Versions = %d, want %d", got, before.Versions-4)
	}
	if res, _ := db.Prune(DefaultPolicy(), now, false); res.Versions != 0 {
		t.Fatalf("second prune removed %d more", res.Versions)
	}
}

func TestPruneOldest(t *testing.T) {
	now := t0.Add(1000 * day)
	db := TestDB(t, "a")
	f := oldWrites(t, db, "f", 3, now)          // sizes 2, mtimes day 0..2
	g := oldWrites(t, db, "g", 3, now.Add(day)) // one day later each
	TestCommit(t, db, Change{Kind: Deleted, Path: "g"})
	for _, tc := range []struct {
		need      int64
		wantGone  []FileVersion
		wantCount int
	}{
		{1, []FileVersion{f[0]}, 1},             // at least one: the oldest
		{4, []FileVersion{g[0], f[1]}, 2},       // then by age across paths
		{1 << 20, []FileVersion{g[1], g[2]}, 2}, // a deleted path's last content goes too; its tombstone stays
		{1 << 20, nil, 0},                       // nothing left
	} {
		res, err := db.PruneOldest(tc.need, nil)
		if err != nil || res.Versions != tc.wantCount {
			t.Fatalf("PruneOldest(%d) = %+v, %v; want %d versions", tc.need, res, err, tc.wantCount)
		}
	}
	if h, _ := db.History("f"); len(h) != 1 || h[0].Hash != f[2].Hash {
		t.Fatalf("f's history after pruning = %v", h)
	}
	if h, _ := db.History("g"); len(h) != 1 || !h[0].Deleted {
		t.Fatalf("g's history after pruning = %v", h)
	}
	if v, err := db.Lookup("f"); err != nil || v.Hash != f[2].Hash {
		t.Fatalf("f after pruning: %+v, %v", v, err)
	}
}

// TestPrunedStayPruned: a peer's page that still carries pruned versions
// does not bring them back, and a device that pages through a pruned
// index gets every kept version and the same tree.
func TestPrunedStayPruned(t *testing.T) {
	now := t0.Add(1000 * day)
	a, b, c := TestDB(t, "a"), TestDB(t, "b"), TestDB(t, "c")
	oldWrites(t, a, "f", 4, now)
	TestMkdir(t, a, "d", now)
	TestWrite(t, a, "d/x", []byte("x"), now)
	TestSync(t, b, a, 2)
	if _, err := b.PruneOldest(1, nil); err != nil { // leaves its index entry behind
		t.Fatal(err)
	}
	if res, err := b.Prune(DefaultPolicy(), now, false); err != nil || res.Versions != 2 {
		t.Fatalf("prune on b = %+v, %v", res, err)
	}
	vs, next, err := a.Since(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Merge("a", vs, next); err != nil {
		t.Fatal(err)
	}
	if h, _ := b.History("f"); len(h) != 1 {
		t.Fatalf("merging a's page again brought back pruned versions: %d kept", len(h))
	}
	if n := indexLen(t, b); n != 3 {
		t.Fatalf("b's index holds %d entries after pruning, want the 3 kept versions", n)
	}
	TestSync(t, c, b, 1)
	for _, p := range []string{"f", "d", "d/x"} {
		vb, errB := b.Lookup(p)
		vc, errC := c.Lookup(p)
		if errB != nil || errC != nil || vb.Hash != vc.Hash || vb.Kind != vc.Kind {
			t.Fatalf("%s: b %+v %v, c %+v %v", p, vb, errB, vc, errC)
		}
	}
	if h, _ := c.History("f"); len(h) != 1 {
		t.Fatalf("c got %d versions of f from b's pruned index, want 1", len(h))
	}
}

func TestPruneOldestOnlyWhatIsStoredHere(t *testing.T) {
	now := t0.Add(1000 * day)
	db := TestDB(t, "a")
	f := oldWrites(t, db, "f", 3, now)
	elsewhere := f[0].Chunks[0].ID // the oldest version's content is not here
	stored := func(id chunks.ID) bool { return id != elsewhere }
	res, err := db.PruneOldest(1, stored)
	if err != nil || res.Versions != 1 {
		t.Fatalf("PruneOldest = %+v, %v", res, err)
	}
	h, _ := db.History("f")
	if len(h) != 2 || h[0].Hash != f[0].Hash || h[1].Hash != f[2].Hash {
		t.Fatalf("history after pruning = %d versions; want the oldest (not stored here) and the current", len(h))
	}
	if res, _ := db.PruneOldest(1, stored); res.Versions != 0 {
		t.Fatalf("pruned %d versions that free nothing here", res.Versions)
	}
}

// TestPruneKeepsFrontier: after a conflict the frontier's versions stay,
// so later merges of the path still find them.
func TestPruneKeepsFrontier(t *testing.T) {
	now := t0.Add(1000 * day)
	old := now.Add(-800 * day)
	a, b, c := TestDB(t, "a"), TestDB(t, "b"), TestDB(t, "c")
	TestWrite(t, a, "f", []byte("base"), old)
	TestSync(t, b, a, 0)
	TestWrite(t, a, "f", []byte("from a"), old.Add(time.Hour))
	TestWrite(t, b, "f", []byte("from b"), old.Add(2*time.Hour))
	TestSync(t, a, b, 0)
	if res, err := a.Prune(DefaultPolicy(), now, false); err != nil {
		t.Fatal(err)
	} else if res.Versions != 1 { // only "base"
		t.Fatalf("prune after a conflict removed %d versions, want 1 (the frontier stays)", res.Versions)
	}
	if res, err := a.PruneOldest(1<<30, nil); err != nil || res.Versions != 0 {
		t.Fatalf("PruneOldest after a conflict = %+v, %v; want nothing (the frontier stays)", res, err)
	}
	// A third device's concurrent version merges against the frontier.
	TestWrite(t, c, "f", []byte("from c"), old.Add(3*time.Hour))
	if _, err := a.Merge("c", mustSince(t, c), c.IndexSeq()); err != nil {
		t.Fatalf("merge after pruning: %v", err)
	}
	if v, err := a.Lookup("f"); err != nil || v.Hash != FileContent([]byte("from c"), t0).Hash {
		t.Fatalf("f after merging c: %+v, %v", v, err)
	}
}

func mustSince(t *testing.T, db *DB) []FileVersion {
	t.Helper()
	vs, _, err := db.Since(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func indexLen(t *testing.T, db *DB) int {
	t.Helper()
	n := 0
	err := db.view(func(tx *txn) error {
		return tx.index.ForEach(func(k, v []byte) error { n++; return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
