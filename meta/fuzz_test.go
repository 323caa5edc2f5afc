package meta

import (
	"fmt"
	"testing"
)

// fuzzPage decodes back-to-back encoded versions until the bytes run out
// or stop decoding.
func fuzzPage(data []byte) []FileVersion {
	var out []FileVersion
	d := decoder{b: data}
	for len(d.b) > 0 && len(out) < 64 {
		v, err := d.version()
		if err != nil {
			break
		}
		out = append(out, v)
	}
	return out
}

func fuzzSeed(vs ...FileVersion) []byte {
	var b []byte
	for _, v := range vs {
		b = append(b, v.encode()...)
	}
	return b
}

// FuzzMerge feeds decoded garbage to Merge: it must never panic, and
// whatever it accepts must leave only valid versions at valid paths, with
// no live entry under a non-directory.
func FuzzMerge(f *testing.F) {
	f.Add(fuzzSeed(
		remote("d/f", FileContent([]byte("theirs"), t0), "B", 3, Vector{"B": 3}),
		remote("d", tombstoneOf(KindDir, t0), "B", 5, Vector{"A": 1, "B": 5}),
		remote("d/new", FileContent([]byte("n"), t0), "B", 6, Vector{"B": 6}),
		remote("g/x", DirContent(t0), "B", 7, Vector{"B": 7}),
		remote("d/small", InlineContent([]byte("inline"), t0), "B", 8, Vector{"B": 8}),
		remote("d/f", InlineContent([]byte("theirs, inline"), t0), "B", 9, Vector{"A": 1, "B": 9}),
	))
	f.Add(fuzzSeed(remote("g", DirContent(t0), "C", 1, Vector{"C": 1}), remote("../x", DirContent(t0), "C", 2, Vector{"C": 2})))
	f.Add([]byte{1, 1, 'a'})
	f.Fuzz(func(t *testing.T, data []byte) {
		db := TestDB(t, "A")
		TestMkdir(t, db, "d", t0)
		TestWrite(t, db, "d/f", []byte("mine"), t0)
		TestWrite(t, db, "g", []byte("g"), t0)
		vs := fuzzPage(data)
		if _, err := db.Merge("B", vs, 1); err != nil {
			return
		}
		// Check inside the transaction, fail outside it: t.Fatal in a bbolt
		// callback would leave the transaction open and Close hanging.
		err := db.view(func(tx *txn) error {
			if err := tx.files.ForEach(func(k, val []byte) error {
				v, err := decodeStored(val, string(k))
				if err != nil {
					return fmt.Errorf("stored undecodable version at %q: %w", k, err)
				}
				if string(k) != v.Path {
					return fmt.Errorf("version of %q stored at %q", v.Path, k)
				}
				if err := validateVersion(&v); err != nil {
					return fmt.Errorf("stored an invalid version: %w", err)
				}
				return nil
			}); err != nil {
				return err
			}
			return tx.historyB.ForEach(func(k, val []byte) error {
				v, err := decodeStored(val, historyPath(k))
				if err != nil {
					return fmt.Errorf("history holds undecodable bytes: %w", err)
				}
				if err := validateVersion(&v); err != nil {
					return fmt.Errorf("history holds an invalid version: %w", err)
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		assertNoOrphans(t, db)
	})
}
