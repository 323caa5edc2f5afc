package chunks

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
)

func TestID(t *testing.T) {
	id := Sum([]byte("hello"))
	s := id.String()
	if len(s) != 64 || strings.ToLower(s) != s {
		t.Fatalf("String() = %q, want 64 lower-case hex chars", s)
	}
	if id.Short() != s[:12] {
		t.Errorf("Short() = %q, want %q", id.Short(), s[:12])
	}
	// Known answer: BLAKE3-256("hello").
	if want := "ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f"; s != want {
		t.Errorf("Sum(hello) = %s, want %s", s, want)
	}
	if id.IsZero() || !(ID{}).IsZero() {
		t.Error("IsZero wrong")
	}
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"valid", s, true},
		{"upper case", strings.ToUpper(s), true},
		{"short", s[:63], false},
		{"long", s + "0", false},
		{"not hex", "zz" + s[2:], false},
		{"empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseID(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseID(%q) err = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if tc.ok && got != id {
				t.Errorf("ParseID(%q) = %s, want %s", tc.in, got, id)
			}
		})
	}
	r := Ref{ID: id, Offset: 10, Size: 5}
	if r.End() != 15 {
		t.Errorf("End() = %d", r.End())
	}
}

func TestErrFullIsENOSPC(t *testing.T) {
	wrapped := errors.Join(errors.New("context"), ErrFull)
	if !errors.Is(wrapped, syscall.ENOSPC) || !errors.Is(wrapped, ErrFull) {
		t.Fatal("ErrFull must satisfy errors.Is(err, syscall.ENOSPC)")
	}
	if errors.Is(ErrCorrupt, syscall.ENOSPC) {
		t.Fatal("ErrCorrupt must not be ENOSPC")
	}
}

// splitAll returns the refs of data and checks that the chunks tile it.
func splitAll(t *testing.T, data []byte) []Ref {
	t.Helper()
	var refs []Ref
	var off int64
	err := Split(bytes.NewReader(data), func(ref Ref, chunk []byte) error {
		if ref.Offset != off || ref.Size != int64(len(chunk)) {
			t.Fatalf("ref %+v does not follow offset %d / chunk of %d", ref, off, len(chunk))
		}
		if !bytes.Equal(chunk, data[ref.Offset:ref.End()]) {
			t.Fatalf("chunk at %d is not the input's bytes", ref.Offset)
		}
		if ref.ID != Sum(chunk) {
			t.Fatalf("ref id is not the chunk's BLAKE3")
		}
		refs = append(refs, ref)
		off = ref.End()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if off != int64(len(data)) {
		t.Fatalf("chunks cover %d of %d bytes", off, len(data))
	}
	return refs
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name       string
		size       int
		wantChunks int // -1: check bounds only
	}{
		{"empty", 0, 0},
		{"one byte", 1, 1},
		{"below min", MinChunk - 1, 1},
		{"max", MaxChunk, -1},
		{"20 MiB", 20 << 20, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := RandomBytes(uint64(tc.size), tc.size)
			refs := splitAll(t, data)
			if tc.wantChunks >= 0 && len(refs) != tc.wantChunks {
				t.Fatalf("%d chunks, want %d", len(refs), tc.wantChunks)
			}
			for i, r := range refs {
				if r.Size > MaxChunk {
					t.Errorf("chunk %d is %d bytes, over the max", i, r.Size)
				}
				if r.Size < MinChunk && i != len(refs)-1 {
					t.Errorf("chunk %d is %d bytes, under the min and not last", i, r.Size)
				}
			}
			again := splitAll(t, data)
			if len(again) != len(refs) {
				t.Fatalf("second split: %d chunks, first %d", len(again), len(refs))
			}
			for i := range refs {
				if refs[i] != again[i] {
					t.Fatalf("cut points differ between two splits at chunk %d", i)
				}
			}
		})
	}
}

func TestSplitEditChangesFewChunks(t *testing.T) {
	data := RandomBytes(42, 20<<20)
	before := splitAll(t, data)
	if n := len(before); n < 10 || n > 40 {
		t.Errorf("20 MiB gave %d chunks; average 1 MiB expected", n)
	}
	tests := []struct {
		name string
		edit func([]byte) []byte
	}{
		{"overwrite", func(d []byte) []byte { d[10<<20] ^= 1; return d }},
		{"insert", func(d []byte) []byte {
			return append(d[:10<<20:10<<20], append([]byte("inserted bytes"), d[10<<20:]...)...)
		}},
		{"delete", func(d []byte) []byte { return append(d[:10<<20:10<<20], d[10<<20+1000:]...) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			after := splitAll(t, tc.edit(bytes.Clone(data)))
			old := make(map[ID]bool)
			for _, r := range before {
				old[r.ID] = true
			}
			changed := 0
			for _, r := range after {
				if !old[r.ID] {
					changed++
				}
			}
			if changed < 1 || changed > 3 {
				t.Errorf("an edit in the middle changed %d chunks, want 1 to 3", changed)
			}
		})
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestSplitErrors(t *testing.T) {
	boom := errors.New("disk on fire")
	err := Split(io.MultiReader(bytes.NewReader(RandomBytes(1, 100)), errReader{boom}), func(Ref, []byte) error { return nil })
	if !errors.Is(err, boom) {
		t.Errorf("read error: got %v, want it wrapped", err)
	}
	stop := errors.New("stop")
	err = Split(bytes.NewReader(RandomBytes(1, 100)), func(Ref, []byte) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("callback error: got %v, want it returned", err)
	}
}
