package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestJournal(t *testing.T) {
	tests := []struct {
		name string
		// ops: "a<x>" appends x, "s" seals, "d" drops what was sealed last, "r" reopens and
		// checks the replayed records equal want at that point.
		ops  []string
		want []string
	}{
		{name: "empty", ops: []string{"r"}, want: nil},
		{name: "appended records replay in order", ops: []string{"aone", "atwo", "r"}, want: []string{"one", "two"}},
		{name: "dropped segment is gone", ops: []string{"aone", "s", "atwo", "d", "r"}, want: []string{"two"}},
		{name: "sealed but not dropped stays", ops: []string{"aone", "s", "atwo", "r"}, want: []string{"one", "two"}},
		{name: "records after a reopen follow", ops: []string{"aone", "r", "atwo", "r"}, want: []string{"one", "two"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := filepath.Join(t.TempDir(), "j")
			j, recs, _, err := Open(prefix)
			if err != nil {
				t.Fatal(err)
			}
			var sealed uint64
			for _, op := range tc.ops {
				switch op[0] {
				case 'a':
					if err := j.Append([]byte(op[1:])); err != nil {
						t.Fatal(err)
					}
				case 's':
					sealed = j.Seal()
				case 'd':
					if err := j.Drop(sealed); err != nil {
						t.Fatal(err)
					}
				case 'r':
					j.Close()
					if j, recs, _, err = Open(prefix); err != nil {
						t.Fatal(err)
					}
				}
			}
			defer j.Close()
			var got []string
			for _, r := range recs {
				got = append(got, string(r))
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("replayed %q, want %q", got, tc.want)
			}
		})
	}
}

// A torn or corrupt tail (a machine that died mid-write) ends the replay
// of its segment; the whole records before it are kept.
func TestJournalTornTail(t *testing.T) {
	for cut := 1; cut < 8+5; cut++ {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			prefix := filepath.Join(t.TempDir(), "j")
			j, _, _, err := Open(prefix)
			if err != nil {
				t.Fatal(err)
			}
			j.Append([]byte("whole"))
			j.Append([]byte("torn!"))
			j.Close()
			name := segName(prefix, 1)
			fi, err := os.Stat(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(name, fi.Size()-int64(cut)); err != nil {
				t.Fatal(err)
			}
			_, recs, _, err := Open(prefix)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1 || string(recs[0]) != "whole" {
				t.Fatalf("replayed %q, want only %q", recs, "whole")
			}
		})
	}
	t.Run("bad crc", func(t *testing.T) {
		prefix := filepath.Join(t.TempDir(), "j")
		j, _, _, _ := Open(prefix)
		j.Append([]byte("whole"))
		j.Append([]byte("flip!"))
		j.Close()
		name := segName(prefix, 1)
		b, _ := os.ReadFile(name)
		b[len(b)-1] ^= 1
		os.WriteFile(name, b, 0o600)
		_, recs, _, err := Open(prefix)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 {
			t.Fatalf("replayed %q, want one record", recs)
		}
	})
}
