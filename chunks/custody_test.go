package chunks

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
)

func TestCustody(t *testing.T) {
	data := RandomBytes(21, 200_000)
	id := Sum(data)
	fetched := func(t *testing.T, s *Store) {
		t.Helper()
		tok := mustBegin(t, s, id)
		if err := s.Write(id, tok, data); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		run  func(t *testing.T, s *Store)
	}{
		{"a local write is kept", func(t *testing.T, s *Store) {
			mustPut(t, s, data)
			in, _ := s.Stat(id)
			if !in.Custody {
				t.Fatal("Put did not take custody")
			}
			if u := s.Usage(); u.LocalOnly != 1 || u.Custody != in.Stored {
				t.Errorf("Usage %+v: want 1 local-only, %d bytes in custody", u, in.Stored)
			}
		}},
		{"a fetched copy is not kept", func(t *testing.T, s *Store) {
			fetched(t, s)
			if in, _ := s.Stat(id); in.Custody {
				t.Fatal("Write took custody")
			}
		}},
		{"a local write of a cached chunk takes custody", func(t *testing.T, s *Store) {
			fetched(t, s)
			mustPut(t, s, data)
			if in, _ := s.Stat(id); !in.Custody {
				t.Fatal("Put of a cached chunk did not take custody")
			}
		}},
		{"keep of a missing chunk is refused", func(t *testing.T, s *Store) {
			if err := s.Keep(id, "a", false); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Keep: %v, want ErrNotFound", err)
			}
		}},
		{"keep records the other keeper", func(t *testing.T, s *Store) {
			fetched(t, s)
			if err := s.Keep(id, "a", false); err != nil {
				t.Fatal(err)
			}
			in, _ := s.Stat(id)
			if !in.Custody || !slices.Contains(in.Holders, "a") {
				t.Errorf("after Keep: %+v", in)
			}
		}},
		{"keep of a release forgets the releaser", func(t *testing.T, s *Store) {
			fetched(t, s)
			if err := s.Keep(id, "a", false); err != nil {
				t.Fatal(err)
			}
			if err := s.Keep(id, "a", true); err != nil {
				t.Fatal(err)
			}
			in, _ := s.Stat(id)
			if !in.Custody || slices.Contains(in.Holders, "a") {
				t.Errorf("after a released Keep: %+v", in)
			}
		}},
		{"keep is refused while releasing", func(t *testing.T, s *Store) {
			mustPut(t, s, data)
			if err := s.BeginRelease(id); err != nil {
				t.Fatal(err)
			}
			if err := s.BeginRelease(id); !errors.Is(err, ErrReleasing) {
				t.Errorf("second BeginRelease: %v, want ErrReleasing", err)
			}
			if err := s.Keep(id, "b", true); !errors.Is(err, ErrReleasing) {
				t.Errorf("Keep during a release: %v, want ErrReleasing", err)
			}
			if err := s.EndRelease(id, "b", false); err != nil {
				t.Fatal(err)
			}
			if in, _ := s.Stat(id); !in.Custody {
				t.Error("an unconfirmed release gave custody up")
			}
			if err := s.Keep(id, "b", true); err != nil {
				t.Errorf("Keep after the release ended: %v", err)
			}
		}},
		{"a confirmed release makes the chunk evictable", func(t *testing.T, s *Store) {
			mustPut(t, s, data)
			TestHandOff(t, s, id, "b")
			in, _ := s.Stat(id)
			if in.Custody || !slices.Contains(in.Holders, "b") {
				t.Errorf("after a hand-off: %+v", in)
			}
			if u := s.Usage(); u.Custody != 0 || u.LocalOnly != 0 {
				t.Errorf("Usage after a hand-off: %+v", u)
			}
		}},
		{"release of a cached copy is refused", func(t *testing.T, s *Store) {
			fetched(t, s)
			if err := s.BeginRelease(id); !errors.Is(err, ErrNotFound) {
				t.Errorf("BeginRelease of a cached copy: %v, want ErrNotFound", err)
			}
		}},
		{"proofs depend on nonce and bytes", func(t *testing.T, s *Store) {
			mustPut(t, s, data)
			n1, n2 := Nonce{1}, Nonce{2}
			p1, err := s.Prove(id, n1)
			if err != nil {
				t.Fatal(err)
			}
			if p1 != ProofOf(n1, data) {
				t.Error("Prove disagrees with ProofOf")
			}
			if p1 == ProofOf(n2, data) || p1 == ProofOf(n1, data[1:]) {
				t.Error("a proof does not depend on its nonce and bytes")
			}
			if _, err := s.Prove(Sum([]byte("x")), n1); !errors.Is(err, ErrNotFound) {
				t.Errorf("Prove of a missing chunk: %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, TestStore(t)) })
	}
}

// A record written before custody existed: a local write stays kept, a
// fetched copy stays evictable, and unproved "have" claims are forgotten.
func TestCustodyFromVersion1Records(t *testing.T) {
	tests := []struct {
		name        string
		flags       uint8
		wantCustody bool
	}{
		{"local write", 0, true},
		{"fetched", flagFetched, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &entry{state: Complete, flags: tc.flags, size: 10, stored: 10, holders: []string{"liar"}}
			b := e.encode()
			b[0] = 1
			got, err := decodeEntry(b)
			if err != nil {
				t.Fatal(err)
			}
			if got.custody() != tc.wantCustody || len(got.holders) != 0 {
				t.Errorf("decoded %+v: custody %v, want %v, no holders", got, got.custody(), tc.wantCustody)
			}
		})
	}
}

// Two stores releasing one chunk to each other at once: at most one lets
// go, whatever the interleaving.
func TestCrossedReleasesKeepOneCopy(t *testing.T) {
	data := RandomBytes(22, 100_000)
	id := Sum(data)
	a, b := TestStore(t), TestStore(t)
	mustPut(t, a, data)
	mustPut(t, b, data)
	// Both begin; each one's request reaches the other.
	if err := a.BeginRelease(id); err != nil {
		t.Fatal(err)
	}
	if err := b.BeginRelease(id); err != nil {
		t.Fatal(err)
	}
	errAtB := b.Keep(id, "a", true)
	errAtA := a.Keep(id, "b", true)
	if err := a.EndRelease(id, "b", errAtB == nil); err != nil {
		t.Fatal(err)
	}
	if err := b.EndRelease(id, "a", errAtA == nil); err != nil {
		t.Fatal(err)
	}
	ia, _ := a.Stat(id)
	ib, _ := b.Stat(id)
	if !ia.Custody && !ib.Custody {
		t.Fatal("both devices gave custody up")
	}
}

// TestForgetHolder: a removed device is dropped from every chunk's
// holders, in memory and on disk (HeldByIn reads the closed store).
func TestForgetHolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "chunks")
	s, err := Open(Options{Dir: dir, Logger: TestLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []ID
	for i := range 3 {
		id, err := s.Put(RandomBytes(uint64(i), 1000))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		s.AddHolder(id, "gone")
		if i > 0 {
			s.AddHolder(id, "stays")
		}
	}
	if got := s.HeldBy(); got["gone"] != 3 || got["stays"] != 2 {
		t.Fatalf("HeldBy: %v", got)
	}
	forgot, err := s.ForgetHolder("gone")
	if err != nil || len(forgot) != 3 {
		t.Fatalf("ForgetHolder: %v, %v", forgot, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := HeldByIn(dir)
	if err != nil || got["gone"] != 0 || got["stays"] != 2 {
		t.Fatalf("HeldByIn after ForgetHolder: %v, %v", got, err)
	}
	if got, err := HeldByIn(filepath.Join(t.TempDir(), "none")); err != nil || len(got) != 0 {
		t.Fatalf("HeldByIn of no store: %v, %v", got, err)
	}
}
