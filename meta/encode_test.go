package meta

import (
	"bytes"
	"encoding/binary"
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
	small := InlineContent([]byte("hello, inline"), mt)
	small.Path, small.Origin, small.Seq, small.Vector = "small.txt", "dev1", 4, Vector{"dev1": 4}
	edited := InlineContent(make([]byte, InlineMax), mt)
	edited.Path, edited.Mode, edited.Change, edited.From, edited.Origin, edited.Seq, edited.Vector = "e/full", 0o4755, Renamed, "e/old", "dev2", 9, Vector{"dev1": 4, "dev2": 9}
	return []FileVersion{file, link, dir, tomb, small, edited, {}}
}

// TestEncodeOldRecords decodes records in the v1 layout that every
// meta.db written before inline content holds, and checks they re-encode
// to the same bytes (seen keys and the conflict order hash and compare
// encodings).
func TestEncodeOldRecords(t *testing.T) {
	for _, v := range sampleVersions() {
		if v.IsInline() {
			continue
		}
		t.Run(v.Path, func(t *testing.T) {
			old := v.appendBinary(nil) // the v1 writer, unchanged
			got, err := decodeVersion(old)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got.IsInline() || !sameVersion(got, v) {
				t.Fatalf("decoded %+v, want %+v", got, v)
			}
			if enc := got.encode(); string(enc) != string(old) {
				t.Fatalf("re-encoded as %x, was %x", enc, old)
			}
		})
	}
}

// TestEncodeInline checks the inline layout's size and what it implies.
func TestEncodeInline(t *testing.T) {
	for _, v := range sampleVersions() {
		if !v.IsInline() {
			continue
		}
		t.Run(v.Path, func(t *testing.T) {
			b := v.encode()
			if b[0] != encodingInline {
				t.Fatalf("layout %d, want %d", b[0], encodingInline)
			}
			got, err := decodeVersion(b)
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != KindFile || got.Size != int64(len(v.Inline)) || got.Hash != chunks.Sum(v.Inline) || got.Deleted || len(got.Chunks) != 0 {
				t.Fatalf("decoded %+v", got)
			}
			if err := validateVersion(&got); err != nil {
				t.Fatalf("validate: %v", err)
			}
			// path, content, origin and one byte each for the rest: no
			// hash, no chunk refs, a new file's vector in one byte.
			if extra := len(b) - len(v.Path) - len(v.Inline) - len(v.From) - len(v.Origin) - 32*len(v.Vector); extra > 24 {
				t.Fatalf("%d bytes besides path, content and origin", extra)
			}
		})
	}
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
		{"unknown encoding version", append([]byte{3}, good[1:]...)},
		{"inline content of 0 bytes", []byte{2, 1, 'a', 0, 0, 0, 0}},
		{"inline content over InlineMax", binary.AppendUvarint([]byte{2, 1, 'a', 0, 0, 0}, InlineMax+1)},
		{"inline content past the end", binary.AppendUvarint([]byte{2, 1, 'a', 0, 0, 0}, 100)},
		{"inline vector {origin: seq} in long form", inlineLongVector()},
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

// inlineLongVector encodes a new file's inline version with its vector
// written out instead of in its short form (count 0).
func inlineLongVector() []byte {
	v := InlineContent([]byte("x"), t0)
	v.Path, v.Origin, v.Seq, v.Vector = "a", "d", 1, Vector{"d": 1}
	b := v.encode()
	return appendVector(b[:len(b)-1], v.Vector)
}

// TestValidateInline covers checkContent's rules for inline content.
func TestValidateInline(t *testing.T) {
	data := []byte("small")
	ok := InlineContent(data, t0)
	tests := []struct {
		name string
		mod  func(v *FileVersion)
		ok   bool
	}{
		{"valid", func(*FileVersion) {}, true},
		{"largest", func(v *FileVersion) { *v = InlineContent(make([]byte, InlineMax), t0) }, true},
		{"over InlineMax", func(v *FileVersion) { *v = InlineContent(make([]byte, InlineMax+1), t0) }, false},
		{"size not the content's", func(v *FileVersion) { v.Size++ }, false},
		{"hash not the content's", func(v *FileVersion) { v.Hash = chunks.Sum([]byte("other")) }, false},
		{"chunks too", func(v *FileVersion) {
			v.Chunks = []chunks.Ref{{ID: chunks.Sum(data), Size: int64(len(data))}}
		}, false},
		{"on a directory", func(v *FileVersion) { v.Kind, v.Size, v.Hash = KindDir, 0, chunks.ID{} }, false},
		{"on a tombstone", func(v *FileVersion) { v.Deleted, v.Size, v.Hash = true, 0, chunks.ID{} }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := ok
			v.Inline = bytes.Clone(ok.Inline)
			tc.mod(&v)
			err := checkContent(&v)
			if (err == nil) != tc.ok {
				t.Fatalf("checkContent = %v, want ok %v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidVersion) {
				t.Fatalf("error %v does not wrap ErrInvalidVersion", err)
			}
		})
	}
}
