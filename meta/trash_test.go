package meta

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestDeletedAndRestoreDeleted(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	del := func(t *testing.T, db *DB, p string, at time.Time) {
		t.Helper()
		TestCommit(t, db, Change{Kind: Deleted, Path: p, File: FileVersion{MTime: at}})
	}
	// setup: docs/ with a.txt (two versions), sub/b.txt, and old.txt that
	// was deleted an hour before the folder; docs/ is then rm -r'ed.
	setup := func(t *testing.T) *DB {
		db := TestDB(t, "dev1")
		TestMkdir(t, db, "docs", t0)
		TestMkdir(t, db, "docs/sub", t0)
		TestWrite(t, db, "docs/a.txt", []byte("a1"), t0)
		TestWrite(t, db, "docs/a.txt", []byte("a2 longer"), t0.Add(time.Minute))
		TestWrite(t, db, "docs/sub/b.txt", []byte("b"), t0)
		TestWrite(t, db, "docs/old.txt", []byte("old"), t0)
		TestWrite(t, db, "keep.txt", []byte("k"), t0)
		del(t, db, "docs/old.txt", t0.Add(time.Hour))
		gone := t0.Add(2 * time.Hour)
		del(t, db, "docs/sub/b.txt", gone)
		del(t, db, "docs/sub", gone)
		del(t, db, "docs/a.txt", gone.Add(time.Second))
		del(t, db, "docs", gone.Add(2*time.Second))
		return db
	}
	liveFiles := func(t *testing.T, db *DB) map[string]int64 {
		out := map[string]int64{}
		var walk func(string)
		walk = func(dir string) {
			vs, err := db.List(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vs {
				out[v.Path] = v.Size
				if v.Kind == KindDir {
					walk(v.Path)
				}
			}
		}
		walk("")
		return out
	}
	tests := []struct {
		name    string
		path    string
		at      time.Time
		want    map[string]int64
		wantErr error
	}{
		{name: "folder as deleted", path: "docs",
			want: map[string]int64{"docs": 0, "docs/sub": 0, "docs/a.txt": 9, "docs/sub/b.txt": 1, "keep.txt": 1}},
		{name: "folder at an earlier moment", path: "docs", at: t0.Add(30 * time.Second),
			want: map[string]int64{"docs": 0, "docs/sub": 0, "docs/a.txt": 2, "docs/sub/b.txt": 1, "docs/old.txt": 3, "keep.txt": 1}},
		{name: "one file brings back its parents", path: "docs/sub/b.txt",
			want: map[string]int64{"docs": 0, "docs/sub": 0, "docs/sub/b.txt": 1, "keep.txt": 1}},
		{name: "file deleted on its own", path: "docs/old.txt",
			want: map[string]int64{"docs": 0, "docs/old.txt": 3, "keep.txt": 1}},
		{name: "live file", path: "keep.txt", wantErr: ErrExists},
		{name: "never existed", path: "nope", wantErr: ErrNotFound},
		{name: "before it existed", path: "docs", at: t0.Add(-time.Hour), wantErr: ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := setup(t)
			vs, err := db.RestoreDeleted(tc.path, tc.at)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vs {
				if v.Deleted || v.Origin != "dev1" {
					t.Errorf("restored version %+v", v)
				}
			}
			got := liveFiles(t, db)
			if len(got) != len(tc.want) {
				t.Fatalf("live tree = %v, want %v", got, tc.want)
			}
			for p, size := range tc.want {
				if s, ok := got[p]; !ok || s != size {
					t.Errorf("%s: size %d (live %v), want %d", p, s, ok, size)
				}
			}
		})
	}
}

func TestDeletedLists(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	db := TestDB(t, "dev1")
	TestMkdir(t, db, "d", t0)
	TestWrite(t, db, "d/x", []byte("xyz"), t0)
	TestWrite(t, db, "y", []byte("y"), t0)
	TestCommit(t, db, Change{Kind: Deleted, Path: "d/x", File: FileVersion{MTime: t0.Add(time.Hour)}})
	TestCommit(t, db, Change{Kind: Deleted, Path: "y"})
	TestWrite(t, db, "m1", []byte("moved"), t0)
	TestCommit(t, db, Change{Kind: Renamed, From: "m1", Path: "m2"}) // a move is no deletion
	for _, tc := range []struct {
		dir  string
		want []string
	}{
		{"", []string{"d/x", "y"}},
		{"d", []string{"d/x"}},
		{"d/x", []string{"d/x"}},
	} {
		t.Run("dir="+tc.dir, func(t *testing.T) {
			ts, err := db.Deleted(tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, x := range ts {
				got = append(got, x.Path)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Deleted(%q) = %v, want %v", tc.dir, got, tc.want)
			}
			if ts[0].Path == "d/x" && (ts[0].Size != 3 || ts[0].Device != "dev1" || !ts[0].DeletedAt.Equal(t0.Add(time.Hour))) {
				t.Errorf("d/x listed as %+v", ts[0])
			}
		})
	}
}
