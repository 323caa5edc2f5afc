package meta

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/uberan/latus/chunks"
)

// remote makes a version as device origin would send it.
func remote(p string, content FileVersion, origin string, seq uint64, vec Vector) FileVersion {
	v := content
	v.Path, v.Origin, v.Seq, v.Vector = p, origin, seq, vec
	if v.Change == Created && v.Deleted {
		v.Change = Deleted
	}
	return v
}

func tombstoneOf(kind Kind, mtime time.Time) FileVersion {
	return FileVersion{Kind: kind, Mode: 0o644, MTime: mtime, Deleted: true, Change: Deleted}
}

func TestMergeRules(t *testing.T) {
	t1, t2 := t0.Add(time.Hour), t0.Add(2*time.Hour)
	x, y := []byte("x content"), []byte("y content")
	type want struct {
		hash      []byte // live content of "f"; nil = f not live
		kind      Kind
		vector    string
		conflicts []string
		copyHash  []byte // content of the conflict copy, if any
		applied   int
	}
	tests := []struct {
		name  string
		local func(t *testing.T, db *DB) // builds A's state of "f"
		in    FileVersion
		want  want
	}{
		{
			name:  "new path",
			local: func(t *testing.T, db *DB) {},
			in:    remote("f", FileContent(y, t1), "B", 1, Vector{"B": 1}),
			want:  want{hash: y, vector: "{B:1}", applied: 1},
		},
		{
			name:  "remote dominates",
			local: func(t *testing.T, db *DB) { TestWrite(t, db, "f", x, t2) },
			in:    remote("f", FileContent(y, t1), "B", 4, Vector{"A": 1, "B": 4}),
			want:  want{hash: y, vector: "{A:1 B:4}", applied: 1},
		},
		{
			name: "local dominates",
			local: func(t *testing.T, db *DB) {
				mustMerge(t, db, "B", remote("f", FileContent(y, t1), "B", 1, Vector{"B": 1}))
				TestWrite(t, db, "f", x, t0)
			},
			in:   remote("f", FileContent(y, t2), "B", 1, Vector{"B": 1}).withMode(0o600),
			want: want{hash: x, vector: "{A:1 B:1}"},
		},
		{
			name:  "concurrent identical content",
			local: func(t *testing.T, db *DB) { TestWrite(t, db, "f", x, t0) },
			in:    remote("f", FileContent(x, t1), "B", 3, Vector{"B": 3}),
			want:  want{hash: x, vector: "{A:1 B:3}", applied: 1},
		},
		{
			name:  "concurrent, remote newer wins",
			local: func(t *testing.T, db *DB) { TestWrite(t, db, "f", x, t1) },
			in:    remote("f", FileContent(y, t2), "B", 3, Vector{"B": 3}),
			want: want{hash: y, vector: "{A:1 B:3}", applied: 2,
				conflicts: []string{"f.sync-conflict-20240102-040405-A"}, copyHash: x},
		},
		{
			name:  "concurrent, local newer wins",
			local: func(t *testing.T, db *DB) { TestWrite(t, db, "f", x, t2) },
			in:    remote("f", FileContent(y, t1), "B", 3, Vector{"B": 3}),
			want: want{hash: x, vector: "{A:1 B:3}", applied: 2,
				conflicts: []string{"f.sync-conflict-20240102-040405-B"}, copyHash: y},
		},
		{
			name:  "concurrent, same mtime: larger device id wins",
			local: func(t *testing.T, db *DB) { TestWrite(t, db, "f", x, t1) },
			in:    remote("f", FileContent(y, t1), "B", 3, Vector{"B": 3}),
			want: want{hash: y, vector: "{A:1 B:3}", applied: 2,
				conflicts: []string{"f.sync-conflict-20240102-040405-A"}, copyHash: x},
		},
		{
			name: "local delete vs remote modify: the modification wins",
			local: func(t *testing.T, db *DB) {
				mustMerge(t, db, "B", remote("f", FileContent(x, t0), "B", 1, Vector{"B": 1}))
				TestCommit(t, db, Change{Kind: Deleted, Path: "f", File: FileVersion{MTime: t2}})
			},
			in:   remote("f", FileContent(y, t1), "B", 2, Vector{"B": 2}),
			want: want{hash: y, vector: "{A:1 B:2}", applied: 1},
		},
		{
			name: "remote delete vs local modify: the modification stays",
			local: func(t *testing.T, db *DB) {
				mustMerge(t, db, "B", remote("f", FileContent(x, t0), "B", 1, Vector{"B": 1}))
				TestWrite(t, db, "f", y, t1)
			},
			in:   remote("f", tombstoneOf(KindFile, t2), "B", 2, Vector{"B": 2}),
			want: want{hash: y, vector: "{A:1 B:2}", applied: 1},
		},
		{
			name: "both deleted",
			local: func(t *testing.T, db *DB) {
				mustMerge(t, db, "B", remote("f", FileContent(x, t0), "B", 1, Vector{"B": 1}))
				TestCommit(t, db, Change{Kind: Deleted, Path: "f"})
			},
			in:   remote("f", tombstoneOf(KindFile, t2), "B", 2, Vector{"B": 2}),
			want: want{vector: "{A:1 B:2}"},
		},
		{
			name:  "concurrent dir beats file",
			local: func(t *testing.T, db *DB) { TestWrite(t, db, "f", x, t2) },
			in:    remote("f", DirContent(t1), "B", 3, Vector{"B": 3}),
			want: want{kind: KindDir, vector: "{A:1 B:3}", applied: 2,
				conflicts: []string{"f.sync-conflict-20240102-050405-A"}, copyHash: x},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := TestDB(t, "A")
			tc.local(t, db)
			res, err := db.Merge("B", []FileVersion{tc.in}, 9)
			if err != nil {
				t.Fatal(err)
			}
			cur, err := db.Lookup("f")
			switch {
			case tc.want.hash == nil && tc.want.kind != KindDir:
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("f is live: %+v (%v)", cur, err)
				}
			case err != nil:
				t.Fatalf("Lookup: %v", err)
			case cur.Kind != tc.want.kind:
				t.Fatalf("f is a %v, want %v", cur.Kind, tc.want.kind)
			case tc.want.hash != nil && cur.Hash != chunks.Sum(tc.want.hash):
				t.Fatalf("f has the wrong content: %+v", cur)
			}
			all, _ := db.History("f")
			if got := all[len(all)-1]; !slices.ContainsFunc(all, func(v FileVersion) bool { return sameVersion(v, tc.in) }) {
				t.Fatalf("remote version not kept in history; last is %+v", got)
			}
			f, _, _ := currentOf(db, "f")
			if f.Vector.String() != tc.want.vector {
				t.Errorf("vector = %v, want %s", f.Vector, tc.want.vector)
			}
			if !slices.Equal(res.Conflicts, tc.want.conflicts) {
				t.Errorf("conflicts = %v, want %v", res.Conflicts, tc.want.conflicts)
			}
			if len(res.Applied) != tc.want.applied {
				t.Errorf("applied %d versions (%v), want %d", len(res.Applied), names(res.Applied), tc.want.applied)
			}
			if tc.want.copyHash != nil {
				c, err := db.Lookup(tc.want.conflicts[0])
				if err != nil || c.Hash != chunks.Sum(tc.want.copyHash) {
					t.Fatalf("conflict copy = %+v, %v", c, err)
				}
			}
			if pos, _ := db.PeerPos("B"); pos != 9 {
				t.Errorf("PeerPos = %d", pos)
			}
			// The same page again changes nothing.
			seq := db.IndexSeq()
			res, err = db.Merge("B", []FileVersion{tc.in}, 9)
			if err != nil || len(res.Applied) != 0 || db.IndexSeq() != seq {
				t.Fatalf("second merge: %+v, %v, index %d→%d", res, err, seq, db.IndexSeq())
			}
		})
	}
}

func (v FileVersion) withMode(m uint32) FileVersion { v.Mode = m; return v }

func mustMerge(t *testing.T, db *DB, from string, vs ...FileVersion) MergeResult {
	t.Helper()
	res, err := db.Merge(from, vs, 0)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// currentOf reads the current record of p, tombstones included.
func currentOf(db *DB, p string) (v FileVersion, ok bool, err error) {
	err = db.view(func(t *txn) error {
		v, ok, err = t.current(p)
		return err
	})
	return v, ok, err
}

func TestMergeRefusesInvalidPage(t *testing.T) {
	good := remote("ok", FileContent([]byte("ok"), t0), "B", 1, Vector{"B": 1})
	bad := func(f func(*FileVersion)) FileVersion {
		v := remote("bad", FileContent([]byte("bad"), t0), "B", 2, Vector{"B": 2})
		f(&v)
		return v
	}
	tests := []struct {
		name string
		v    FileVersion
		want error
	}{
		{"dotdot", bad(func(v *FileVersion) { v.Path = "../etc/passwd" }), ErrInvalidPath},
		{"absolute", bad(func(v *FileVersion) { v.Path = "/etc/passwd" }), ErrInvalidPath},
		{"state dir", bad(func(v *FileVersion) { v.Path = ".latus/identity/key.pem" }), ErrInvalidPath},
		{"NUL", bad(func(v *FileVersion) { v.Path = "a\x00b" }), ErrInvalidPath},
		{"renamed from dotdot", bad(func(v *FileVersion) { v.Change, v.From = Renamed, ".." }), ErrInvalidPath},
		{"no origin", bad(func(v *FileVersion) { v.Origin = "" }), ErrInvalidVersion},
		{"origin with slash", bad(func(v *FileVersion) { v.Origin = "a/b"; v.Vector = Vector{"a/b": 2} }), ErrInvalidVersion},
		{"seq 0", bad(func(v *FileVersion) { v.Seq = 0 }), ErrInvalidVersion},
		{"vector without own seq", bad(func(v *FileVersion) { v.Vector = Vector{"B": 1} }), ErrInvalidVersion},
		{"size mismatch", bad(func(v *FileVersion) { v.Size++ }), ErrInvalidVersion},
		{"chunk gap", bad(func(v *FileVersion) { v.Chunks[0].Offset = 1 }), ErrInvalidVersion},
		{"bad kind", bad(func(v *FileVersion) { v.Kind = 7 }), ErrInvalidVersion},
		{"mode bits", bad(func(v *FileVersion) { v.Mode = 0o100644 }), ErrInvalidVersion},
		{"dir with chunks", bad(func(v *FileVersion) { v.Kind = KindDir }), ErrInvalidVersion},
		{"tombstone with content", bad(func(v *FileVersion) { v.Deleted = true }), ErrInvalidVersion},
		{"symlink without target", bad(func(v *FileVersion) { *v = remote("bad", FileVersion{Kind: KindSymlink}, "B", 2, Vector{"B": 2}) }), ErrInvalidVersion},
		{"zero counter", bad(func(v *FileVersion) { v.Vector["C"] = 0 }), ErrInvalidVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := TestDB(t, "A")
			_, err := db.Merge("B", []FileVersion{good, tc.v}, 5)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Merge = %v, want %v", err, tc.want)
			}
			if _, err := db.Lookup("ok"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("the valid version of a refused page was applied")
			}
			if pos, _ := db.PeerPos("B"); pos != 0 || db.IndexSeq() != 0 || db.Stats() != (Stats{}) {
				t.Fatalf("refused page changed the store")
			}
		})
	}
	t.Run("from itself", func(t *testing.T) {
		db := TestDB(t, "A")
		if _, err := db.Merge("A", []FileVersion{good}, 1); err == nil {
			t.Fatal("merged a page from this device itself")
		}
	})
}

// TestMergeOrphans: a directory deleted on one device while another
// creates a file in it ends with the file kept and the directory back, the
// same on both devices.
func TestMergeOrphans(t *testing.T) {
	a, b := TestDB(t, "A"), TestDB(t, "B")
	TestMkdir(t, a, "d", t0)
	TestWrite(t, a, "d/old", []byte("old"), t0)
	TestSync(t, b, a, 100)

	TestCommit(t, a, Change{Kind: Deleted, Path: "d/old"}, Change{Kind: Deleted, Path: "d"})
	TestWrite(t, b, "d/new", []byte("new"), t0)
	// b replaces a file by a directory holding a file, a writes inside the
	// file's old name concurrently... keep it to the delete case plus a
	// nested one.
	TestMkdir(t, b, "d/sub", t0)
	TestWrite(t, b, "d/sub/deep", []byte("deep"), t0)

	syncAll(t, 7, a, b)
	for _, db := range []*DB{a, b} {
		if v, err := db.Lookup("d/sub/deep"); err != nil || v.Hash != chunks.Sum([]byte("deep")) {
			t.Fatalf("%s: d/sub/deep = %v", db.Device(), err)
		}
		if vs, err := db.List("d"); err != nil || !slices.Equal(names(vs), []string{"d/new", "d/sub"}) {
			t.Fatalf("%s: List(d) = %v, %v", db.Device(), names(vs), err)
		}
	}
	assertSameTree(t, a, b)
}
