package chunks

import "errors"

// Under cache pressure history gives way before current data. When a
// write does not fit under the cap even after evicting what other devices
// hold, the store asks Options.Relieve to release history (the daemon
// prunes the oldest non-current versions, meta.DB.PruneOldest), collects
// the chunks that left unreferenced, and tries again, until the write fits
// or Relieve has nothing left to release. Only then does the write fail
// with ErrFull. A current version is never released, so a local-only mount
// never runs out of room because of its own history.
//
// Relieve and the collection run outside the store's mutex. The writer
// still holds its own chunk's lock; collection only claims chunks nobody
// holds, so it never waits on one and cannot deadlock with writers.

// reserveRelieved is reserve, relieving pressure when the write does not
// fit. Writers relieve one at a time and try reserve again first: parallel
// writers (PutStream's workers) run out of room together, and the room one
// of them makes may be enough for the others, who would otherwise find
// nothing left to release and fail.
func (s *Store) reserveRelieved(id ID, n int64) ([]victim, error) {
	victims, err := s.reserve(id, n)
	if err == nil || !errors.Is(err, ErrFull) || s.relieve == nil || s.mark == nil {
		return victims, err
	}
	s.gc.relief.Lock()
	defer s.gc.relief.Unlock()
	for {
		victims, err = s.reserve(id, n)
		if err == nil || !errors.Is(err, ErrFull) || !s.relieve(n) {
			return victims, err
		}
		s.gc.relieved.Add(1)
		if _, cerr := s.collect(false); cerr != nil {
			s.log.Warn("collecting chunks under cache pressure", "err", cerr)
			return nil, err
		}
	}
}

// Stored reports whether id is complete here. It takes no part in Close's
// wait, so Options.Relieve may call it while a write is in flight.
func (s *Store) Stored(id ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[id]
	return e != nil && e.state == Complete
}
