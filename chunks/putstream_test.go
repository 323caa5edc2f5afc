package chunks

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/zeebo/blake3"
)

func TestPutStream(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"small", []byte("hello latus")},
		{"random 9 MiB", RandomBytes(5, 9<<20)},
		{"text 5 MiB", textBytes(5 << 20)},
		{"repeated block", bytes.Repeat(RandomBytes(6, MaxChunk), 3)}, // identical chunks stored once
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := TestStore(t)
			refs, hash, size, err := s.PutStream(bytes.NewReader(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if size != int64(len(tc.data)) {
				t.Errorf("size %d, want %d", size, len(tc.data))
			}
			if want := ID(blake3.Sum256(tc.data)); hash != want {
				t.Errorf("hash %s, want BLAKE3 of the content %s", hash.Short(), want.Short())
			}
			want := splitAll(t, tc.data)
			if len(refs) != len(want) {
				t.Fatalf("%d refs, Split gives %d", len(refs), len(want))
			}
			distinct := make(map[ID]bool)
			var back []byte
			for i, r := range refs {
				if r != want[i] {
					t.Fatalf("ref %d = %+v, want %+v", i, r, want[i])
				}
				got, err := s.Read(r.ID)
				if err != nil {
					t.Fatalf("Read chunk %d: %v", i, err)
				}
				back = append(back, got...)
				distinct[r.ID] = true
			}
			if !bytes.Equal(back, tc.data) {
				t.Fatal("chunks read back do not rebuild the content")
			}
			if u := s.Usage(); u.Chunks != len(distinct) || u.LocalOnly != len(distinct) {
				t.Errorf("Usage %+v, want %d local-only chunks", u, len(distinct))
			}
		})
	}
}

func TestPutStreamErrors(t *testing.T) {
	boom := errors.New("read failed")
	s := TestStore(t)
	_, _, _, err := s.PutStream(io.MultiReader(bytes.NewReader(RandomBytes(1, 3<<20)), errReader{boom}))
	if !errors.Is(err, boom) {
		t.Errorf("reader error: %v, want it returned", err)
	}

	full := TestStore(t, func(o *Options) { o.Capacity = 2 << 20 })
	_, _, _, err = full.PutStream(bytes.NewReader(RandomBytes(2, 8<<20)))
	if !errors.Is(err, ErrFull) {
		t.Fatalf("PutStream over the cap: %v, want ErrFull", err)
	}
	if u := full.Usage(); u.Used > 2<<20 {
		t.Errorf("used %d over the cap", u.Used)
	}
}
