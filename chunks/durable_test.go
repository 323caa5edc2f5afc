package chunks

import (
	"bytes"
	"os"
	"testing"
)

// kill leaves s as a kill -9 would: nothing deferred is synced or indexed,
// the journal and the files stay as written.
func kill(t *testing.T, s *Store) {
	t.Helper()
	s.life.Lock()
	s.closed = true
	s.life.Unlock()
	close(s.stop)
	<-s.done
	s.journal.Close()
	s.codecs.close()
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
}

func reopen(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(Options{Dir: dir, Logger: TestLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Chunks PutStream stored survive a kill -9 before any Sync: the journal
// is replayed and they are complete, in custody, with their bytes.
// A chunk whose file did not survive (a machine that died) is dropped.
func TestPutJournalReplay(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, s *Store, id ID)
		synced bool
		want   State
	}{
		{name: "killed before sync", want: Complete},
		{name: "killed after sync", synced: true, want: Complete},
		{name: "file torn", damage: func(t *testing.T, s *Store, id ID) {
			if err := os.Truncate(s.chunkPath(id), 10); err != nil {
				t.Fatal(err)
			}
		}, want: Missing},
		{name: "file gone", damage: func(t *testing.T, s *Store, id ID) {
			if err := os.Remove(s.chunkPath(id)); err != nil {
				t.Fatal(err)
			}
		}, want: Missing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := reopen(t, dir)
			data := RandomBytes(7, 3*MinChunk)
			refs, _, _, err := s.PutStream(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if tc.synced {
				if err := s.Sync(); err != nil {
					t.Fatal(err)
				}
			}
			if tc.damage != nil {
				tc.damage(t, s, refs[0].ID)
			}
			kill(t, s)

			s = reopen(t, dir)
			for i, r := range refs {
				want := Complete
				if i == 0 {
					want = tc.want
				}
				st, err := s.Status(r.ID)
				if err != nil || st != want {
					t.Fatalf("chunk %d after restart: %v, %v; want %v", i, st, err, want)
				}
				if st != Complete {
					continue
				}
				got, err := s.Read(r.ID)
				if err != nil || !bytes.Equal(got, data[r.Offset:r.Offset+r.Size]) {
					t.Fatalf("chunk %d reads %d bytes, %v", i, len(got), err)
				}
				if !s.snapshot(r.ID).custody() {
					t.Fatalf("chunk %d is not in custody after replay", i)
				}
			}
		})
	}
}

// Sync leaves nothing to replay: the records are in the index, the
// journal is gone.
func TestSyncIndexes(t *testing.T) {
	dir := t.TempDir()
	s := reopen(t, dir)
	refs, _, _, err := s.PutStream(bytes.NewReader(RandomBytes(8, MinChunk)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if len(s.unsynced) != 0 {
		t.Fatalf("%d chunks still unsynced", len(s.unsynced))
	}
	// Remove the journal: the index alone must know the chunk.
	if err := s.journal.Drop(s.journal.Seal()); err != nil {
		t.Fatal(err)
	}
	kill(t, s)
	s = reopen(t, dir)
	if st, err := s.Status(refs[0].ID); err != nil || st != Complete {
		t.Fatalf("after sync and restart: %v, %v", st, err)
	}
}

// A record written while a deferred put waits for Sync (a custody change,
// a removal) settles the chunk first and is not overwritten by the Sync.
func TestSettleBeforeRecord(t *testing.T) {
	dir := t.TempDir()
	s := reopen(t, dir)
	data := RandomBytes(9, MinChunk)
	refs, _, _, err := s.PutStream(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	id := refs[0].ID
	if err := s.Remove(id); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	kill(t, s)
	s = reopen(t, dir)
	if st, _ := s.Status(id); st != Missing {
		t.Fatalf("removed chunk is %v after restart", st)
	}
}
