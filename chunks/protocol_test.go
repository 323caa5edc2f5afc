package chunks

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestBeginWriteCancel(t *testing.T) {
	data := RandomBytes(7, 300_000)
	id := Sum(data)
	tests := []struct {
		name string
		run  func(t *testing.T, s *Store)
	}{
		{"write completes", func(t *testing.T, s *Store) {
			tok := mustBegin(t, s, id)
			wantState(t, s, id, InProgress)
			if err := s.Write(id, tok, data); err != nil {
				t.Fatal(err)
			}
			wantState(t, s, id, Complete)
			if _, err := s.Begin(id); !errors.Is(err, ErrComplete) {
				t.Fatalf("Begin of complete chunk: %v, want ErrComplete", err)
			}
			if u := s.Usage(); u.LocalOnly != 0 || u.Chunks != 1 {
				t.Errorf("a written (fetched) chunk counts as local-only: %+v", u)
			}
		}},
		{"second begin is in progress", func(t *testing.T, s *Store) {
			mustBegin(t, s, id)
			if _, err := s.Begin(id); !errors.Is(err, ErrInProgress) {
				t.Fatalf("second Begin: %v, want ErrInProgress", err)
			}
		}},
		{"cancel makes it missing", func(t *testing.T, s *Store) {
			tok := mustBegin(t, s, id)
			if err := s.Cancel(id, tok); err != nil {
				t.Fatal(err)
			}
			wantState(t, s, id, Missing)
			if err := s.Write(id, tok, data); !errors.Is(err, ErrStaleToken) {
				t.Fatalf("Write after Cancel: %v, want ErrStaleToken", err)
			}
			mustBegin(t, s, id)
		}},
		{"cancel with stale token is a no-op", func(t *testing.T, s *Store) {
			old := mustBegin(t, s, id)
			if err := s.Cancel(id, old); err != nil {
				t.Fatal(err)
			}
			cur := mustBegin(t, s, id)
			if err := s.Cancel(id, old); err != nil {
				t.Fatal(err)
			}
			wantState(t, s, id, InProgress)
			if err := s.Write(id, old, data); !errors.Is(err, ErrStaleToken) {
				t.Fatalf("Write with old token: %v, want ErrStaleToken", err)
			}
			if err := s.Write(id, cur, data); err != nil {
				t.Fatalf("Write with current token: %v", err)
			}
			if err := s.Cancel(id, cur); err != nil {
				t.Fatal(err)
			}
			wantState(t, s, id, Complete) // cancel after completion changes nothing
		}},
		{"write without begin", func(t *testing.T, s *Store) {
			if err := s.Write(id, 12345, data); !errors.Is(err, ErrStaleToken) {
				t.Fatalf("Write without Begin: %v, want ErrStaleToken", err)
			}
			wantState(t, s, id, Missing)
		}},
		{"corrupt write stores nothing", func(t *testing.T, s *Store) {
			tok := mustBegin(t, s, id)
			bad := bytes.Clone(data)
			bad[100] ^= 1
			if err := s.Write(id, tok, bad); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Write of corrupt bytes: %v, want ErrCorrupt", err)
			}
			wantState(t, s, id, InProgress) // the fetch may try another source
			if u := s.Usage(); u.Used != 0 || u.Chunks != 0 {
				t.Fatalf("corrupt write stored something: %+v", u)
			}
			if n := countChunkFiles(t, s); n != 0 {
				t.Fatalf("%d chunk files after a corrupt write", n)
			}
			if err := s.Write(id, tok, data); err != nil {
				t.Fatalf("Write of the right bytes with the same token: %v", err)
			}
		}},
		{"oversize write is corrupt", func(t *testing.T, s *Store) {
			big := make([]byte, MaxChunk+1)
			bid := Sum(big)
			tok := mustBegin(t, s, bid)
			if err := s.Write(bid, tok, big); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Write of %d bytes: %v, want ErrCorrupt", len(big), err)
			}
		}},
		{"put during fetch wins", func(t *testing.T, s *Store) {
			tok := mustBegin(t, s, id)
			mustPut(t, s, data)
			wantState(t, s, id, Complete)
			if err := s.Write(id, tok, data); !errors.Is(err, ErrStaleToken) {
				t.Fatalf("Write after Put: %v, want ErrStaleToken", err)
			}
			if u := s.Usage(); u.LocalOnly != 1 {
				t.Errorf("a Put chunk must be local-only: %+v", u)
			}
		}},
		{"remove during fetch", func(t *testing.T, s *Store) {
			tok := mustBegin(t, s, id)
			if err := s.Remove(id); err != nil {
				t.Fatal(err)
			}
			wantState(t, s, id, Missing)
			if err := s.Write(id, tok, data); !errors.Is(err, ErrStaleToken) {
				t.Fatalf("Write after Remove: %v, want ErrStaleToken", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, TestStore(t)) })
	}
}

// TestWriteVerified: a fetched chunk is checked once (Verify) and stored in
// the form it travelled in; bad bytes are refused before anything is stored.
func TestWriteVerified(t *testing.T) {
	src := TestStore(t)
	text := textBytes(500_000)
	tid := mustPut(t, src, text)
	codec, zform, err := src.ReadStored(tid)
	if err != nil || codec != CodecZstd {
		t.Fatalf("ReadStored: %v %v", codec, err)
	}
	random := RandomBytes(9, 200_000)
	rid := mustPut(t, src, random)

	tests := []struct {
		name      string
		id        ID
		codec     Codec
		stored    []byte
		wantErr   error // nil: success
		wantCodec Codec // the codec of the stored chunk file on success
	}{
		{"zstd", tid, CodecZstd, zform, nil, CodecZstd},
		{"plain", rid, CodecNone, random, nil, CodecNone},
		{"compressible text sent plain stays plain", tid, CodecNone, text, nil, CodecNone},
		{"zstd of wrong chunk", rid, CodecZstd, zform, ErrCorrupt, 0},
		{"plain of wrong chunk", tid, CodecNone, random, ErrCorrupt, 0},
		{"garbage zstd", tid, CodecZstd, []byte("not a zstd frame at all"), ErrCorrupt, 0},
		{"truncated zstd", tid, CodecZstd, zform[:len(zform)/2], ErrCorrupt, 0},
		{"oversized zstd", tid, CodecZstd, make([]byte, maxStored+1), ErrCorrupt, 0},
		{"unknown codec", tid, Codec(9), zform, ErrCorrupt, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := TestStore(t)
			tok := mustBegin(t, s, tc.id)
			v, err := Verify(tc.id, tc.codec, tc.stored)
			if err == nil {
				err = s.WriteVerified(tok, v)
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				c, file, err := s.ReadStored(tc.id)
				if err != nil || c != tc.wantCodec || !bytes.Equal(file, tc.stored) {
					t.Fatalf("chunk file: codec %v, %d bytes, %v; want the %d bytes as they travelled (%v)", c, len(file), err, len(tc.stored), tc.wantCodec)
				}
				got, err := s.Read(tc.id)
				if err != nil || Sum(got) != tc.id {
					t.Fatalf("Read after WriteVerified: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			wantState(t, s, tc.id, InProgress)
			if u := s.Usage(); u.Chunks != 0 || countChunkFiles(t, s) != 0 {
				t.Fatalf("a refused chunk stored something: %+v", u)
			}
		})
	}
	t.Run("zero Verified", func(t *testing.T) {
		s := TestStore(t)
		if err := s.WriteVerified(mustBegin(t, s, tid), Verified{}); err == nil {
			t.Fatal("WriteVerified of a Verified that Verify did not make succeeded")
		}
	})
}

func TestCrashBetweenBeginAndWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "chunks")
	data := RandomBytes(11, 100_000)
	id := Sum(data)
	pinned := Sum([]byte("pinned and in progress"))

	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	tok := mustBegin(t, s, id)
	if err := s.Pin(pinned); err != nil {
		t.Fatal(err)
	}
	mustBegin(t, s, pinned)
	// The process dies: close without Cancel or Write.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wantState(t, s, id, Missing)
	wantState(t, s, pinned, Missing)
	if err := s.Write(id, tok, data); !errors.Is(err, ErrStaleToken) {
		t.Fatalf("Write with a token of the dead process: %v, want ErrStaleToken", err)
	}
	tok2 := mustBegin(t, s, id)
	if tok2>>32 == tok>>32 {
		t.Errorf("token epoch did not change across Open: %x vs %x", tok, tok2)
	}
	if err := s.Write(id, tok2, data); err != nil {
		t.Fatal(err)
	}
	wantState(t, s, id, Complete)
	if err := s.Unpin(pinned); err != nil {
		t.Errorf("the pin set before the crash is gone: %v", err)
	}
}

func TestCrashLeftovers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "chunks")
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	kept := mustPut(t, s, RandomBytes(1, 1000))
	lost := mustPut(t, s, RandomBytes(2, 1000))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A crash between rename and index commit leaves an unindexed file; one
	// during a write leaves a temp file; a file may vanish behind our back.
	orphan := RandomBytes(3, 1000)
	oid := Sum(orphan)
	odir := filepath.Join(dir, oid.String()[:2])
	if err := os.MkdirAll(odir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(odir, oid.String()), filepath.Join(odir, tmpPrefix+"123")} {
		if err := os.WriteFile(p, orphan, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(dir, lost.String()[:2], lost.String())); err != nil {
		t.Fatal(err)
	}

	s, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wantState(t, s, kept, Complete)
	wantState(t, s, oid, Missing)
	wantState(t, s, lost, Missing)
	if n := countChunkFiles(t, s); n != 1 {
		t.Errorf("%d files in the store after cleanup, want 1", n)
	}
	if u := s.Usage(); u.Chunks != 1 || u.Used != 1000 {
		t.Errorf("Usage %+v, want the one kept chunk", u)
	}
}

func TestFileDeletedWhileOpen(t *testing.T) {
	s := TestStore(t, func(o *Options) { o.MemCache = -1 })
	id := mustPut(t, s, RandomBytes(5, 10_000))
	if err := os.Remove(s.chunkPath(id)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Read of a chunk whose file vanished: %v, want ErrNotFound", err)
	}
	wantState(t, s, id, Missing)
	if u := s.Usage(); u.Chunks != 0 || u.Used != 0 {
		t.Errorf("Usage %+v after the loss", u)
	}
}

func TestReadCorruptFile(t *testing.T) {
	s := TestStore(t, func(o *Options) { o.MemCache = -1 })
	data := RandomBytes(6, 10_000)
	id := mustPut(t, s, data)
	data[0] ^= 1
	if err := os.WriteFile(s.chunkPath(id), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(id); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Read of a rotten file: %v, want ErrCorrupt", err)
	}
}

func TestRemove(t *testing.T) {
	s := TestStore(t)
	data := RandomBytes(8, 50_000)
	id := mustPut(t, s, data)
	if _, err := s.Read(id); err != nil { // into the memory cache
		t.Fatal(err)
	}
	if err := s.Remove(id); err != nil {
		t.Fatal(err)
	}
	wantState(t, s, id, Missing)
	if _, err := s.Read(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Read after Remove: %v, want ErrNotFound", err)
	}
	if _, _, err := s.ReadStored(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ReadStored after Remove: %v, want ErrNotFound", err)
	}
	if u := s.Usage(); u != (Usage{}) {
		t.Errorf("Usage after Remove: %+v", u)
	}
	if n := countChunkFiles(t, s); n != 0 {
		t.Errorf("%d chunk files after Remove", n)
	}
	if err := s.Remove(id); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

func TestPinsAndHolders(t *testing.T) {
	s := TestStore(t)
	id := mustPut(t, s, RandomBytes(10, 1000))
	unknown := Sum([]byte("unknown"))
	if err := s.Unpin(id); err == nil {
		t.Error("Unpin of an unpinned chunk succeeded")
	}
	for range 2 {
		if err := s.Pin(id); err != nil {
			t.Fatal(err)
		}
	}
	if u := s.Usage(); u.Pinned != 1 || u.LocalOnly != 1 {
		t.Errorf("Usage %+v, want 1 pinned, 1 local-only", u)
	}
	for range 2 {
		if err := s.Unpin(id); err != nil {
			t.Fatal(err)
		}
	}
	if u := s.Usage(); u.Pinned != 0 {
		t.Errorf("pins are not counted: %+v", u)
	}
	for _, dev := range []string{"b", "c", "b"} {
		if err := s.AddHolder(id, dev); err != nil {
			t.Fatal(err)
		}
	}
	if hs, _ := s.Holders(id); len(hs) != 2 || hs[0] != "b" || hs[1] != "c" {
		t.Errorf("Holders = %q, want [b c]", hs)
	}
	if u := s.Usage(); u.LocalOnly != 0 {
		t.Errorf("a chunk another device holds is counted local-only: %+v", u)
	}
	for _, bad := range []string{"", string(make([]byte, 256))} {
		if err := s.AddHolder(id, bad); err == nil {
			t.Errorf("AddHolder with a %d-byte device succeeded", len(bad))
		}
	}
	if err := s.AddHolder(unknown, "b"); err != nil {
		t.Errorf("AddHolder of an unknown chunk: %v", err)
	}
	if hs, err := s.Holders(unknown); err != nil || len(hs) != 0 {
		t.Errorf("Holders of an unknown chunk: %q, %v", hs, err)
	}
	// A pin set before the chunk arrives holds once it does.
	data := RandomBytes(12, 1000)
	if err := s.Pin(Sum(data)); err != nil {
		t.Fatal(err)
	}
	wantState(t, s, Sum(data), Missing)
	mustPut(t, s, data)
	if u := s.Usage(); u.Pinned != 1 {
		t.Errorf("pin set before Put lost: %+v", u)
	}
}

func TestRecordEncoding(t *testing.T) {
	tests := []entry{
		{},
		{state: Complete, codec: CodecZstd, flags: flagFetched, size: MaxChunk, stored: 12345, atime: 1 << 60, pins: 7, token: 1<<40 | 3, holders: []string{"a", "device-two"}},
		{state: InProgress, token: ^Token(0), holders: []string{string(make([]byte, 255))}},
	}
	for i, e := range tests {
		got, err := decodeEntry(e.encode())
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if got.state != e.state || got.codec != e.codec || got.flags != e.flags || got.size != e.size ||
			got.stored != e.stored || got.atime != e.atime || got.pins != e.pins || got.token != e.token ||
			len(got.holders) != len(e.holders) {
			t.Errorf("%d: decoded %+v, want %+v", i, got, e)
		}
		for j := range e.holders {
			if got.holders[j] != e.holders[j] {
				t.Errorf("%d: holder %d differs", i, j)
			}
		}
	}
	good := tests[1].encode()
	for _, bad := range [][]byte{nil, good[:10], good[:len(good)-1], append(bytes.Clone(good), 0), {9}} {
		if _, err := decodeEntry(bad); err == nil {
			t.Errorf("decodeEntry accepted %d malformed bytes", len(bad))
		}
	}
}

func mustBegin(t testing.TB, s *Store, id ID) Token {
	t.Helper()
	tok, err := s.Begin(id)
	if err != nil {
		t.Fatalf("Begin %s: %v", id.Short(), err)
	}
	return tok
}

func wantState(t testing.TB, s *Store, id ID, want State) {
	t.Helper()
	st, err := s.Status(id)
	if err != nil {
		t.Fatal(err)
	}
	if st != want {
		t.Fatalf("chunk %s is %s, want %s", id.Short(), st, want)
	}
}

// countChunkFiles counts files (temp ones included) under the store's
// chunk directories.
func countChunkFiles(t testing.TB, s *Store) int {
	t.Helper()
	n := 0
	dirs, _ := filepath.Glob(filepath.Join(s.dir, "??"))
	for _, d := range dirs {
		des, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		n += len(des)
	}
	return n
}
