package meta

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/uberan/latus/chunks"
)

var t0 = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func names(vs []FileVersion) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Path
	}
	return out
}

func TestCommitLookupList(t *testing.T) {
	db := TestDB(t, "dev1")
	TestMkdir(t, db, "d", t0)
	vs := TestCommit(t, db,
		Change{Kind: Created, Path: "d/b.txt", File: FileContent([]byte("bee"), t0)},
		Change{Kind: Created, Path: "d/a.txt", File: FileContent([]byte("a"), t0)},
		Change{Kind: Created, Path: "d/sub", File: DirContent(t0)},
		Change{Kind: Created, Path: "d/sub/deep", File: FileContent(nil, t0)},
		Change{Kind: Created, Path: "d/a-link", File: SymlinkContent("a.txt", t0)},
		Change{Kind: Created, Path: "top", File: FileContent([]byte("top"), t0)},
		// Names that sort around "sub/" in key order.
		Change{Kind: Created, Path: "d/sub-x", File: FileContent(nil, t0)},
		Change{Kind: Created, Path: "d/sub0", File: FileContent(nil, t0)},
	)
	if len(vs) != 8 {
		t.Fatalf("Commit returned %d versions", len(vs))
	}
	for i, v := range vs {
		if v.Origin != "dev1" || v.Seq != uint64(i+2) || v.Vector.String() != (Vector{"dev1": v.Seq}).String() {
			t.Errorf("version %d: origin %s seq %d vector %v", i, v.Origin, v.Seq, v.Vector)
		}
	}

	got, err := db.Lookup("d/b.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !sameVersion(got, vs[0]) || got.Hash != chunks.Sum([]byte("bee")) || got.Size != 3 {
		t.Fatalf("Lookup = %+v, want %+v", got, vs[0])
	}
	if l, _ := db.Lookup("d/a-link"); l.Target != "a.txt" || l.Size != 5 || l.Kind != KindSymlink {
		t.Fatalf("symlink = %+v", l)
	}

	tests := []struct {
		dir  string
		want []string
		err  error
	}{
		{"", []string{"d", "top"}, nil},
		{"d", []string{"d/a-link", "d/a.txt", "d/b.txt", "d/sub", "d/sub-x", "d/sub0"}, nil},
		{"d/sub", []string{"d/sub/deep"}, nil},
		{"d/a.txt", nil, ErrNotDir},
		{"nope", nil, ErrNotFound},
		{"../x", nil, ErrInvalidPath},
	}
	for _, tc := range tests {
		t.Run("list "+tc.dir, func(t *testing.T) {
			vs, err := db.List(tc.dir)
			if !errors.Is(err, tc.err) {
				t.Fatalf("List(%q) error = %v, want %v", tc.dir, err, tc.err)
			}
			if !slices.Equal(names(vs), tc.want) {
				t.Fatalf("List(%q) = %v, want %v", tc.dir, names(vs), tc.want)
			}
		})
	}

	want := Stats{Files: 7, Dirs: 2, Bytes: 7, Versions: 9}
	if s := db.Stats(); s != want {
		t.Fatalf("Stats = %+v, want %+v", s, want)
	}
}

func TestCommitErrors(t *testing.T) {
	db := TestDB(t, "dev1")
	TestMkdir(t, db, "d", t0)
	TestWrite(t, db, "d/f", []byte("x"), t0)
	TestWrite(t, db, "file", []byte("y"), t0)
	bad := FileContent([]byte("abc"), t0)
	bad.Size = 4
	tests := []struct {
		name string
		c    Change
		want error
	}{
		{"create existing", Change{Kind: Created, Path: "d/f", File: FileContent(nil, t0)}, ErrExists},
		{"create under missing", Change{Kind: Created, Path: "x/f", File: FileContent(nil, t0)}, ErrNotFound},
		{"create under file", Change{Kind: Created, Path: "file/f", File: FileContent(nil, t0)}, ErrNotDir},
		{"modify missing", Change{Kind: Modified, Path: "nope", File: FileContent(nil, t0)}, ErrNotFound},
		{"dir with children to file", Change{Kind: Modified, Path: "d", File: FileContent(nil, t0)}, ErrNotEmpty},
		{"delete missing", Change{Kind: Deleted, Path: "nope"}, ErrNotFound},
		{"delete non-empty dir", Change{Kind: Deleted, Path: "d"}, ErrNotEmpty},
		{"invalid path", Change{Kind: Created, Path: "../f", File: FileContent(nil, t0)}, ErrInvalidPath},
		{"state dir", Change{Kind: Created, Path: ".latus", File: DirContent(t0)}, ErrInvalidPath},
		{"chunks do not cover size", Change{Kind: Created, Path: "g", File: bad}, ErrInvalidVersion},
		{"mode bits", Change{Kind: Created, Path: "g", File: FileVersion{Kind: KindFile, Mode: 0o170000}}, ErrInvalidVersion},
		{"bad kind", Change{Kind: Created, Path: "g", File: FileVersion{Kind: 9}}, ErrInvalidVersion},
		{"bad change", Change{Kind: 9, Path: "g"}, ErrInvalidVersion},
		{"rename missing", Change{Kind: Renamed, From: "nope", Path: "g"}, ErrNotFound},
		{"rename into itself", Change{Kind: Renamed, From: "d", Path: "d/e"}, ErrInvalidPath},
		{"rename dir over file", Change{Kind: Renamed, From: "d", Path: "file"}, ErrNotDir},
		{"rename file over dir", Change{Kind: Renamed, From: "file", Path: "d"}, ErrExists},
		{"rename to missing parent", Change{Kind: Renamed, From: "file", Path: "x/y"}, ErrNotFound},
	}
	before := db.Stats()
	seq := db.IndexSeq()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A valid change first: the failing one must roll it back too.
			_, err := db.Commit([]Change{{Kind: Created, Path: "ok", File: FileContent(nil, t0)}, tc.c})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Commit = %v, want %v", err, tc.want)
			}
			if _, err := db.Lookup("ok"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("failed commit left its first change: %v", err)
			}
			if db.Stats() != before || db.IndexSeq() != seq {
				t.Fatalf("failed commit changed the store")
			}
		})
	}
}

func TestDeleteAndHistory(t *testing.T) {
	db := TestDB(t, "dev1")
	v1 := TestWrite(t, db, "f", []byte("one"), t0)
	v2 := TestWrite(t, db, "f", []byte("two"), t0.Add(time.Second))
	if v2.Change != Modified || v2.Vector.Compare(v1.Vector) != After {
		t.Fatalf("second write: %+v", v2)
	}
	del := TestCommit(t, db, Change{Kind: Deleted, Path: "f"})[0]
	if !del.Deleted || del.Kind != KindFile || del.Size != 0 || len(del.Chunks) != 0 {
		t.Fatalf("tombstone = %+v", del)
	}
	if _, err := db.Lookup("f"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Lookup after delete = %v", err)
	}
	if vs, _ := db.List(""); len(vs) != 0 {
		t.Fatalf("List after delete = %v", names(vs))
	}
	h, err := db.History("f")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || !sameVersion(h[0], v1) || !sameVersion(h[1], v2) || !sameVersion(h[2], del) {
		t.Fatalf("History = %+v", h)
	}
	if _, err := db.History("g"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("History of unknown path = %v", err)
	}
	if s := db.Stats(); s.Files != 0 || s.Bytes != 0 || s.Versions != 3 {
		t.Fatalf("Stats = %+v", s)
	}

	// Re-create after delete: the vector continues from the tombstone.
	v4 := TestWrite(t, db, "f", []byte("four"), t0)
	if v4.Change != Created || v4.Vector.Compare(del.Vector) != After {
		t.Fatalf("re-create: %+v", v4)
	}
}

func TestRestore(t *testing.T) {
	db := TestDB(t, "dev1")
	TestMkdir(t, db, "d", t0)
	v1 := TestWrite(t, db, "d/f", []byte("one"), t0)
	TestWrite(t, db, "d/f", []byte("two"), t0)
	TestCommit(t, db, Change{Kind: Deleted, Path: "d/f"})

	tests := []struct {
		name string
		n    int
		want error
	}{
		{"zero", 0, ErrNotFound},
		{"past the end", 4, ErrNotFound},
		{"a deletion", 3, ErrNotFound},
		{"first", 1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := db.Restore("d/f", tc.n)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Restore(%d) = %v, want %v", tc.n, err, tc.want)
			}
			if err != nil {
				return
			}
			got, err := db.Lookup("d/f")
			if err != nil {
				t.Fatalf("restored file: %v", err)
			}
			if got.Hash != v1.Hash || got.Change != Modified || !sameVersion(got, v) {
				t.Fatalf("restored %+v, want content of %+v", got, v1)
			}
			h, _ := db.History("d/f")
			if len(h) != 4 || h[3].Vector.Compare(h[2].Vector) != After {
				t.Fatalf("history after restore: %d versions", len(h))
			}
		})
	}
}

func TestRename(t *testing.T) {
	db := TestDB(t, "dev1")
	TestMkdir(t, db, "a", t0)
	TestMkdir(t, db, "a/sub", t0)
	TestWrite(t, db, "a/sub/x", []byte("x"), t0)
	TestWrite(t, db, "a/y", []byte("y"), t0)
	TestCommit(t, db, Change{Kind: Created, Path: "a/l", File: SymlinkContent("y", t0)})
	TestWrite(t, db, "a/gone", []byte("g"), t0)
	TestCommit(t, db, Change{Kind: Deleted, Path: "a/gone"})
	TestWrite(t, db, "f", []byte("f"), t0)
	TestWrite(t, db, "g", []byte("old g"), t0)
	TestMkdir(t, db, "empty", t0)

	t.Run("file", func(t *testing.T) {
		vs := TestCommit(t, db, Change{Kind: Renamed, From: "f", Path: "f2"})
		if len(vs) != 2 || vs[0].Path != "f2" || vs[0].Change != Renamed || vs[0].From != "f" || !vs[1].Deleted || vs[1].Path != "f" {
			t.Fatalf("rename versions = %+v", vs)
		}
		if _, err := db.Lookup("f"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("old path still live")
		}
		if v, _ := db.Lookup("f2"); v.Hash != chunks.Sum([]byte("f")) {
			t.Fatalf("new path content wrong")
		}
	})
	t.Run("file over file", func(t *testing.T) {
		TestCommit(t, db, Change{Kind: Renamed, From: "f2", Path: "g"})
		v, _ := db.Lookup("g")
		h, _ := db.History("g")
		if v.Hash != chunks.Sum([]byte("f")) || len(h) != 2 || v.Vector.Compare(h[0].Vector) != After {
			t.Fatalf("g = %+v, history %d", v, len(h))
		}
	})
	t.Run("dir subtree over empty dir", func(t *testing.T) {
		vs := TestCommit(t, db, Change{Kind: Renamed, From: "a", Path: "empty"})
		want := []string{"empty", "empty/l", "empty/sub", "empty/sub/x", "empty/y", "a/y", "a/sub/x", "a/sub", "a/l", "a"}
		if !slices.Equal(names(vs), want) {
			t.Fatalf("rename versions = %v, want %v", names(vs), want)
		}
		if vs, _ := db.List(""); !slices.Equal(names(vs), []string{"empty", "g"}) {
			t.Fatalf("root = %v", names(vs))
		}
		if vs, _ := db.List("empty/sub"); !slices.Equal(names(vs), []string{"empty/sub/x"}) {
			t.Fatalf("empty/sub = %v", names(vs))
		}
		if v, err := db.Lookup("empty/sub/x"); err != nil || v.From != "a/sub/x" || v.Hash != chunks.Sum([]byte("x")) {
			t.Fatalf("moved file = %+v, %v", v, err)
		}
		if _, err := db.Lookup("empty/gone"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted child moved along")
		}
		if _, err := db.List("a"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("old dir still listable: %v", err)
		}
		if s := db.Stats(); s.Files != 4 || s.Dirs != 2 {
			t.Fatalf("Stats = %+v", s)
		}
	})
}

func TestSincePaging(t *testing.T) {
	db := TestDB(t, "dev1")
	var made []FileVersion
	for i := range 25 {
		made = append(made, TestWrite(t, db, "f", []byte{byte(i)}, t0))
	}
	if db.IndexSeq() != 25 {
		t.Fatalf("IndexSeq = %d", db.IndexSeq())
	}
	for _, page := range []int{1, 7, 25, 100} {
		var got []FileVersion
		pos := uint64(0)
		for {
			vs, next, err := db.Since(pos, page)
			if err != nil {
				t.Fatal(err)
			}
			if len(vs) > page {
				t.Fatalf("page of %d > %d", len(vs), page)
			}
			if len(vs) == 0 {
				if next != pos {
					t.Fatalf("empty page moved next to %d", next)
				}
				break
			}
			if next != pos+uint64(len(vs)) {
				t.Fatalf("next = %d after %d from %d", next, len(vs), pos)
			}
			got = append(got, vs...)
			pos = next
		}
		if len(got) != len(made) {
			t.Fatalf("page %d: paged %d versions, want %d", page, len(got), len(made))
		}
		for i := range got {
			if !sameVersion(got[i], made[i]) {
				t.Fatalf("page %d: version %d differs", page, i)
			}
		}
	}
	if vs, next, _ := db.Since(25, 0); len(vs) != 0 || next != 25 {
		t.Fatalf("Since(end) = %d, %d", len(vs), next)
	}
}

func TestReopenAndClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	db, err := Open(path, Options{Device: "dev1", Now: EpochClock})
	if err != nil {
		t.Fatal(err)
	}
	TestWrite(t, db, "f", []byte("x"), t0)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Lookup("f"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Lookup after Close = %v", err)
	}
	if _, err := db.Commit(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Commit after Close = %v", err)
	}
	if err := db.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := Open(path, Options{Device: "dev2"}); err == nil {
		t.Fatalf("opened dev1's store as dev2")
	}
	if _, err := Open(path, Options{Device: "bad/id"}); err == nil {
		t.Fatalf("accepted a device id with a slash")
	}
	db, err = Open(path, Options{Device: "dev1", Now: EpochClock})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v := TestWrite(t, db, "f", []byte("y"), t0)
	if v.Seq != 2 || db.IndexSeq() != 2 || db.Stats().Files != 1 {
		t.Fatalf("counters lost across reopen: seq %d pos %d stats %+v", v.Seq, db.IndexSeq(), db.Stats())
	}
}

func TestRefs(t *testing.T) {
	db := TestDB(t, "dev1")
	big := make([]byte, chunks.MaxChunk+1)
	big[0] = 1
	a := TestWrite(t, db, "a", big, t0)
	TestWrite(t, db, "b", big, t0)              // same chunks again
	c := TestWrite(t, db, "a", []byte("c"), t0) // a's old chunks still kept in history
	TestCommit(t, db, Change{Kind: Deleted, Path: "a"})
	var got []chunks.ID
	if err := db.Refs(func(id chunks.ID) error { got = append(got, id); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []chunks.ID{a.Chunks[0].ID, a.Chunks[1].ID, c.Chunks[0].ID}
	slices.SortFunc(got, func(x, y chunks.ID) int { return slices.Compare(x[:], y[:]) })
	slices.SortFunc(want, func(x, y chunks.ID) int { return slices.Compare(x[:], y[:]) })
	if !slices.Equal(got, want) {
		t.Fatalf("Refs = %v, want %v", got, want)
	}
	stop := errors.New("stop")
	if err := db.Refs(func(chunks.ID) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Refs error = %v", err)
	}
}

// TestLiveFiles walks more than a page of current versions, tombstones,
// folders and a symlink among them: every live regular file once, in
// path order.
func TestLiveFiles(t *testing.T) {
	db := TestDB(t, "dev1")
	TestMkdir(t, db, "d", t0)
	var want []string
	var changes []Change
	for i := range filesPage + 500 {
		p := fmt.Sprintf("d/f%05d", i)
		changes = append(changes, Change{Kind: Created, Path: p, File: FileContent([]byte("x"), t0)})
		if i%7 != 0 {
			want = append(want, p)
		}
	}
	changes = append(changes, Change{Kind: Created, Path: "link", File: SymlinkContent("d", t0)})
	TestCommit(t, db, changes...)
	var dels []Change
	for i := 0; i < filesPage+500; i += 7 {
		dels = append(dels, Change{Kind: Deleted, Path: fmt.Sprintf("d/f%05d", i)})
	}
	TestCommit(t, db, dels...)
	var got []string
	if err := db.LiveFiles(func(v FileVersion) error { got = append(got, v.Path); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("LiveFiles gave %d paths (first %q), want %d", len(got), got[:min(3, len(got))], len(want))
	}
	stop := errors.New("stop")
	n := 0
	if err := db.LiveFiles(func(FileVersion) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("LiveFiles after fn's error: err %v after %d calls, want stop after 1", err, n)
	}
}

// TestOldDatabaseRecords: a meta.db written before records lost their
// path and seen values shrank to the history id holds whole encodings in
// files and history and whole history keys in seen. It reads as before:
// lookups, listings, history and paging, merges (a conflict needs the
// current version's history id) and retention.
func TestOldDatabaseRecords(t *testing.T) {
	db := TestDB(t, "A")
	TestMkdir(t, db, "d", t0)
	TestWrite(t, db, "d/f", []byte("mine"), t0)
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		seen, files, history := tx.Bucket(bucketSeen), tx.Bucket(bucketFiles), tx.Bucket(bucketHistory)
		// Collect first: bbolt forbids writes while iterating a bucket.
		type kv struct {
			b    *bolt.Bucket
			k, v []byte
		}
		var puts []kv
		if err := seen.ForEach(func(k, v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("seen value of %d bytes, want a history id", len(v))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, b := range []struct {
			bucket *bolt.Bucket
			path   func(k []byte) string
		}{{history, historyPath}, {files, func(k []byte) string { return string(k) }}} {
			if err := b.bucket.ForEach(func(k, v []byte) error {
				old, err := decodeStored(v, b.path(k))
				if err != nil {
					return err
				}
				puts = append(puts, kv{b.bucket, slices.Clone(k), old.encode()})
				if b.bucket == history {
					puts = append(puts, kv{seen, seenKey(old, old.encode()), slices.Clone(k)})
				}
				return nil
			}); err != nil {
				return err
			}
		}
		for _, p := range puts {
			if err := p.b.Put(p.k, p.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := db.Lookup("d/f"); err != nil || v.Path != "d/f" {
		t.Fatalf("lookup d/f: %+v, %v", v, err)
	}
	if l, err := db.List("d"); err != nil || len(l) != 1 || l[0].Path != "d/f" {
		t.Fatalf("list d: %v, %v", l, err)
	}
	if vs, _, err := db.Since(0, 0); err != nil || len(vs) != 2 || vs[1].Path != "d/f" {
		t.Fatalf("since 0: %v, %v", vs, err)
	}
	theirs := remote("d/f", FileContent([]byte("theirs"), t0.Add(time.Hour)), "B", 1, Vector{"B": 1})
	res, err := db.Merge("B", []FileVersion{theirs}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Conflicts) != 1 {
		t.Fatalf("conflicts %v, want d/f's copy", res.Conflicts)
	}
	if _, err := db.Prune(DefaultPolicy(), t0.Add(1000*24*time.Hour), false); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"d/f", res.Conflicts[0]} {
		if _, err := db.Lookup(p); err != nil {
			t.Fatalf("%s after merge and prune: %v", p, err)
		}
	}
	if h, err := db.History("d/f"); err != nil || len(h) != 2 || h[0].Path != "d/f" {
		t.Fatalf("history of d/f: %v, %v", h, err)
	}
}
