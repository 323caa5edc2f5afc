package chunks

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// textBytes returns n bytes of compressible text.
func textBytes(n int) []byte {
	line := []byte("The quick brown fox jumps over the lazy dog; Latus keeps one folder in sync.\n")
	b := bytes.Repeat(line, n/len(line)+1)
	return b[:n]
}

// mustPut puts data and fails the test on error.
func mustPut(t testing.TB, s *Store, data []byte) ID {
	t.Helper()
	id, err := s.Put(data)
	if err != nil {
		t.Fatalf("Put %d bytes: %v", len(data), err)
	}
	return id
}

func TestStoreRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		data      []byte
		wantCodec Codec
	}{
		{"small random", RandomBytes(1, 100), CodecNone},
		{"tiny text", []byte("hi"), CodecNone},
		{"random chunk", RandomBytes(2, AvgChunk), CodecNone},
		{"max random", RandomBytes(3, MaxChunk), CodecNone},
		{"text", textBytes(AvgChunk), CodecZstd},
		{"empty", nil, CodecNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, mem := range []int64{0, -1} {
				s := TestStore(t, func(o *Options) { o.MemCache = mem })
				id := mustPut(t, s, tc.data)
				if id != Sum(tc.data) {
					t.Fatalf("Put returned %s, want Sum %s", id.Short(), Sum(tc.data).Short())
				}
				if st, err := s.Status(id); err != nil || st != Complete {
					t.Fatalf("Status = %v, %v; want complete", st, err)
				}
				for range 2 { // disk, then cache (when enabled)
					got, err := s.Read(id)
					if err != nil || !bytes.Equal(got, tc.data) {
						t.Fatalf("Read: %d bytes, err %v; want the %d put", len(got), err, len(tc.data))
					}
				}
				codec, stored, err := s.ReadStored(id)
				if err != nil {
					t.Fatal(err)
				}
				if codec != tc.wantCodec {
					t.Errorf("stored as %s, want %s", codec, tc.wantCodec)
				}
				if codec == CodecZstd && len(stored)*10 > len(tc.data)*9 {
					t.Errorf("zstd form is %d of %d bytes: under 10%% saved", len(stored), len(tc.data))
				}
				if codec == CodecNone && !bytes.Equal(stored, tc.data) {
					t.Error("plain stored form differs from the data")
				}
				u := s.Usage()
				if u.Used != int64(len(stored)) || u.Chunks != 1 || u.LocalOnly != 1 {
					t.Errorf("Usage = %+v; want Used %d, 1 chunk, 1 local-only", u, len(stored))
				}
				onDisk, err := os.ReadFile(filepath.Join(s.dir, id.String()[:2], id.String()))
				if err != nil || !bytes.Equal(onDisk, stored) {
					t.Errorf("chunk file: %v; want Dir/xx/<id> holding the stored form", err)
				}
				// Put of a complete chunk is a no-op.
				if id2 := mustPut(t, s, tc.data); id2 != id || s.Usage().Used != u.Used {
					t.Errorf("second Put changed usage to %+v", s.Usage())
				}
			}
		})
	}
}

func TestPutTooBig(t *testing.T) {
	s := TestStore(t)
	if _, err := s.Put(make([]byte, MaxChunk+1)); err == nil {
		t.Fatal("Put of more than MaxChunk bytes succeeded")
	}
	if u := s.Usage(); u.Chunks != 0 {
		t.Fatalf("a refused Put stored something: %+v", u)
	}
}

func TestReopenKeepsChunks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "chunks")
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	a := mustPut(t, s, RandomBytes(1, 5000))
	b := mustPut(t, s, textBytes(300_000))
	if err := s.Pin(a); err != nil {
		t.Fatal(err)
	}
	if err := handOff(s, b, "dev2"); err != nil {
		t.Fatal(err)
	}
	before := s.Usage()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(a); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v, want ErrClosed", err)
	}
	s, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if after := s.Usage(); after != before {
		t.Errorf("Usage after reopen %+v, before %+v", after, before)
	}
	for _, id := range []ID{a, b} {
		if _, err := s.Read(id); err != nil {
			t.Errorf("Read after reopen: %v", err)
		}
	}
	if hs, _ := s.Holders(b); len(hs) != 1 || hs[0] != "dev2" {
		t.Errorf("holders after reopen %q", hs)
	}
}

func TestOpenLockedByOther(t *testing.T) {
	s := TestStore(t)
	if _, err := Open(Options{Dir: s.dir}); err == nil {
		t.Fatal("a second Open of the same dir succeeded")
	}
}

func TestOpenBadOptions(t *testing.T) {
	if _, err := Open(Options{}); err == nil {
		t.Error("Open without Dir succeeded")
	}
	if _, err := Open(Options{Dir: t.TempDir(), Capacity: -1}); err == nil {
		t.Error("Open with negative capacity succeeded")
	}
}
