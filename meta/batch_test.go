package meta

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// openBatched opens the DB at path with a commit delay long enough that a
// batch stays open for the whole test unless something syncs it.
func openBatched(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(path, Options{Device: "a", Logger: TestLogger(t), Now: EpochClock, CommitDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// kill leaves db as a kill -9 would: the open batch is never committed,
// the journal stays as written.
func kill(t *testing.T, db *DB) {
	t.Helper()
	db.closed.Store(true)
	close(db.stop)
	<-db.loopDone
	db.mu.Lock()
	if db.batch != nil {
		db.batch.Rollback()
		db.batch = nil
	}
	db.mu.Unlock()
	db.journal.Close()
	if err := db.bolt.Close(); err != nil {
		t.Fatal(err)
	}
}

func historyOf(t *testing.T, db *DB, p string) []FileVersion {
	t.Helper()
	h, err := db.History(p)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// A commit that returned survives a kill -9 before its batch was made
// durable: the journal is replayed at the next open, exactly (same
// counters, vectors and index positions).
func TestJournalReplayAfterKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	db := openBatched(t, path)
	TestMkdir(t, db, "d", time.Unix(5, 0))
	if err := db.Sync(); err != nil { // d is durable, the rest only journaled
		t.Fatal(err)
	}
	TestWrite(t, db, "d/f", []byte("one"), time.Unix(6, 0))
	TestWrite(t, db, "d/f", []byte("two"), time.Unix(7, 0))
	TestCommit(t, db, Change{Kind: Renamed, From: "d/f", Path: "d/g"})
	want := historyOf(t, db, "d/g")
	wantStats := db.Stats()
	kill(t, db)

	db = openBatched(t, path)
	defer db.Close()
	if got := historyOf(t, db, "d/g"); !slices.EqualFunc(got, want, equalVersion) {
		t.Fatalf("history after replay:\n%+v\nwant\n%+v", got, want)
	}
	if got := db.Stats(); got != wantStats {
		t.Fatalf("stats after replay %+v, want %+v", got, wantStats)
	}
	if vs, _, err := db.Since(0, 0); err != nil || len(vs) != 5 { // d, f twice, g, f's tombstone
		t.Fatalf("index after replay: %d versions (%v), want 5", len(vs), err)
	}
	if _, err := db.Lookup("d/f"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("d/f after replay: %v, want not found", err)
	}
	// The next commit continues after the replayed counters.
	v := TestWrite(t, db, "d/g", []byte("three"), time.Unix(8, 0))
	if v.Seq <= want[0].Seq {
		t.Fatalf("counter %d after replay is not above %d", v.Seq, want[0].Seq)
	}
}

// Replaying a journal whose batch had already become durable (a kill
// between the bbolt commit and the removal of the segment) changes
// nothing.
func TestJournalReplayIdempotent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "meta.db")
	db := openBatched(t, path)
	TestWrite(t, db, "f", []byte("one"), time.Unix(6, 0))
	TestWrite(t, db, "f", []byte("two"), time.Unix(7, 0))
	seg, err := os.ReadFile(path + ".journal.1")
	if err != nil {
		t.Fatal(err)
	}
	want := historyOf(t, db, "f")
	wantStats := db.Stats()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".journal.1", seg, 0o600); err != nil {
		t.Fatal(err)
	}
	db = openBatched(t, path)
	defer db.Close()
	if got := historyOf(t, db, "f"); !slices.EqualFunc(got, want, equalVersion) {
		t.Fatalf("history after a second replay:\n%+v\nwant\n%+v", got, want)
	}
	if got := db.Stats(); got != wantStats {
		t.Fatalf("stats after a second replay %+v, want %+v", got, wantStats)
	}
}

// A commit that fails leaves the other commits of its batch as they were.
func TestFailedCommitKeepsBatch(t *testing.T) {
	db := openBatched(t, filepath.Join(t.TempDir(), "meta.db"))
	defer db.Close()
	TestWrite(t, db, "a", []byte("a"), time.Unix(6, 0))
	TestMkdir(t, db, "d", time.Unix(6, 0))
	TestWrite(t, db, "d/x", []byte("x"), time.Unix(6, 0))
	// The second change fails after the first was applied in the batch.
	_, err := db.Commit([]Change{
		{Kind: Created, Path: "b", File: FileContent([]byte("b"), time.Unix(6, 0))},
		{Kind: Deleted, Path: "d"},
	})
	if !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("commit = %v, want ErrNotEmpty", err)
	}
	if _, err := db.Lookup("b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("b of the failed commit: %v, want not found", err)
	}
	for _, p := range []string{"a", "d", "d/x"} {
		if _, err := db.Lookup(p); err != nil {
			t.Fatalf("%s after a failed commit in its batch: %v", p, err)
		}
	}
	TestWrite(t, db, "c", []byte("c"), time.Unix(6, 0))
	if s := db.Stats(); s.Files != 3 || s.Versions != 4 {
		t.Fatalf("stats %+v, want 3 files and 4 versions", s)
	}
}

// Fold replaces a version that is still pending and makes a new one once
// the version is durable (and so may have reached a peer).
func TestFold(t *testing.T) {
	attrs := func(v FileVersion, mode uint32, mtime int64) FileVersion {
		v.Mode, v.MTime = mode, time.Unix(mtime, 0)
		return v
	}
	tests := []struct {
		name     string
		syncedAt int // sync after this many changes (-1: never)
		want     int // versions in the history
		wantKind ChangeKind
	}{
		{name: "pending: one version", syncedAt: -1, want: 1, wantKind: Created},
		{name: "create durable: the write is new, the attributes fold into it", syncedAt: 1, want: 2, wantKind: Modified},
		{name: "write durable: the attributes make a new version", syncedAt: 2, want: 2, wantKind: Modified},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openBatched(t, filepath.Join(t.TempDir(), "meta.db"))
			defer db.Close()
			content := FileContent([]byte("hello"), time.Unix(9, 0))
			changes := []Change{
				{Kind: Created, Path: "f", File: FileVersion{Kind: KindFile, Mode: 0o600, MTime: time.Unix(8, 0)}},
				{Kind: Modified, Path: "f", File: content, Fold: true},                  // the first write of a created file
				{Kind: Modified, Path: "f", File: attrs(content, 0o755, 1), Fold: true}, // tar's utimens and chmod
			}
			for i, c := range changes {
				if i == tc.syncedAt {
					if err := db.Sync(); err != nil {
						t.Fatal(err)
					}
				}
				TestCommit(t, db, c)
			}
			h := historyOf(t, db, "f")
			if len(h) != tc.want {
				t.Fatalf("history has %d versions, want %d: %+v", len(h), tc.want, h)
			}
			last := h[len(h)-1]
			if last.Mode != 0o755 || !last.MTime.Equal(time.Unix(1, 0)) || last.Hash != content.Hash || last.Size != 5 {
				t.Fatalf("last version %+v does not hold the last change", last)
			}
			if last.Change != tc.wantKind {
				t.Fatalf("last version is %s, want %s", last.Change, tc.wantKind)
			}
			cur, err := db.Lookup("f")
			if err != nil || !equalVersion(cur, last) {
				t.Fatalf("current %+v, %v; want %+v", cur, err, last)
			}
			if s := db.Stats(); s.Files != 1 || s.Bytes != 5 || s.Versions != tc.want {
				t.Fatalf("stats %+v", s)
			}
			// What peers page through is the folded version, once.
			vs, _, err := db.Since(0, 0)
			if err != nil || len(vs) != tc.want || !equalVersion(vs[len(vs)-1], last) {
				t.Fatalf("since: %+v, %v", vs, err)
			}
		})
	}
}

func equalVersion(a, b FileVersion) bool {
	return string(a.encode()) == string(b.encode())
}
