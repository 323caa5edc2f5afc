package meta

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/uberan/latus/chunks"
)

// sampleVersions covers every field of FileVersion.
func sampleVersions() []FileVersion {
	mt := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	file := FileContent(make([]byte, chunks.MaxChunk+10), mt)
	file.Path, file.Origin, file.Seq, file.Vector = "docs/a.txt", "dev1", 7, Vector{"dev1": 7, "dev2": 3}
	link := SymlinkContent("../target", mt)
	link.Path, link.Change, link.From, link.Origin, link.Seq, link.Vector = "l", Renamed, "old/l", "d", 1, Vector{"d": 1}
	dir := DirContent(time.Unix(-5, 0).UTC())
	dir.Path, dir.Mode, dir.Origin, dir.Seq, dir.Vector = "x/y", 0o1777, "z", 1<<60, Vector{"z": 1 << 60}
	tomb := FileVersion{Path: "gone", Kind: KindFile, Mode: 0o600, MTime: mt, Deleted: true, Change: Deleted, Origin: "q", Seq: 2, Vector: Vector{"q": 2}}
	return []FileVersion{file, link, dir, tomb, {}}
}

func TestEncodeRoundTrip(t *testing.T) {
	for _, v := range sampleVersions() {
		t.Run(v.Path, func(t *testing.T) {
			b, err := v.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeVersion(b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !sameVersion(got, v) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, v)
			}
			b2, _ := got.MarshalBinary()
			if string(b2) != string(b) {
				t.Fatalf("encoding is not deterministic")
			}
			// Every truncation must fail cleanly.
			for i := range b {
				if _, err := decodeVersion(b[:i]); !errors.Is(err, ErrInvalidVersion) {
					t.Fatalf("decode of %d/%d bytes: %v, want ErrInvalidVersion", i, len(b), err)
				}
			}
			if _, err := decodeVersion(append(b, 0)); err == nil {
				t.Fatalf("trailing byte accepted")
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	good, _ := sampleVersions()[0].MarshalBinary()
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"unknown encoding version", append([]byte{2}, good[1:]...)},
		{"huge chunk count", []byte{1, 1, 'a', 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"huge path length", []byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeVersion(tc.data); !errors.Is(err, ErrInvalidVersion) {
				t.Fatalf("decode = %v, want ErrInvalidVersion", err)
			}
		})
	}
}

// sameVersion compares versions field by field, times by instant and
// nil/empty slices and maps alike.
func sameVersion(a, b FileVersion) bool {
	if !a.MTime.Equal(b.MTime) || len(a.Chunks) != len(b.Chunks) || len(a.Vector) != len(b.Vector) {
		return false
	}
	for i := range a.Chunks {
		if a.Chunks[i] != b.Chunks[i] {
			return false
		}
	}
	if a.Vector.Compare(b.Vector) != Equal {
		return false
	}
	a.MTime, b.MTime = time.Time{}, time.Time{}
	a.Chunks, b.Chunks, a.Vector, b.Vector = nil, nil, nil, nil
	return reflect.DeepEqual(a, b)
}

func FuzzDecodeVersion(f *testing.F) {
	for _, v := range sampleVersions() {
		b, _ := v.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := decodeVersion(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidVersion) {
				t.Fatalf("error %v does not wrap ErrInvalidVersion", err)
			}
			return
		}
		b, err := v.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		v2, err := decodeVersion(b)
		if err != nil {
			t.Fatalf("re-decode of an encoded version: %v", err)
		}
		if !sameVersion(v, v2) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", v2, v)
		}
		_ = validateVersion(&v) // must not panic either
	})
}
