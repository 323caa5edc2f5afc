package chunks

import (
	"errors"
	"fmt"
	"slices"
)

// editEntry runs edit on id's entry under the chunk's lock and persists
// the entry when edit reports a change; what names the operation in errors.
func (s *Store) editEntry(id ID, what string, edit func(ne *entry) (bool, error)) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	return s.editEntryLocked(id, what, edit)
}

// editEntryLocked is editEntry for callers already inside an operation.
func (s *Store) editEntryLocked(id ID, what string, edit func(ne *entry) (bool, error)) error {
	s.lockID(id)
	defer s.unlockID(id)
	ne := s.snapshot(id)
	changed, err := edit(ne)
	if err != nil || !changed {
		return err
	}
	if err := s.commit(id, ne); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Holders returns the other devices known to keep id.
func (s *Store) Holders(id ID) ([]string, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entries[id]; e != nil {
		return slices.Clone(e.holders), nil
	}
	return nil, nil
}

// Pin adds a pin to id; a pinned chunk is never evicted. Pins are counted
// and may be set before the chunk is stored.
func (s *Store) Pin(id ID) error {
	return s.editEntry(id, "pin", func(ne *entry) (bool, error) {
		if ne.pins == ^uint32(0) {
			return false, fmt.Errorf("pin chunk %s: too many pins", id.Short())
		}
		ne.pins++
		return true, nil
	})
}

// errNotPinned is returned by Unpin for a chunk without pins.
var errNotPinned = errors.New("not pinned")

// Unpin removes one pin from id.
func (s *Store) Unpin(id ID) error {
	return s.editEntry(id, "unpin", func(ne *entry) (bool, error) {
		if ne.pins == 0 {
			return false, fmt.Errorf("unpin chunk %s: %w", id.Short(), errNotPinned)
		}
		ne.pins--
		return true, nil
	})
}

// Pins returns how many pins id has.
func (s *Store) Pins(id ID) (uint32, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entries[id]; e != nil {
		return e.pins, nil
	}
	return 0, nil
}

// Pinned returns every chunk with a pin, stored or not.
func (s *Store) Pinned() ([]ID, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ID
	for id, e := range s.entries {
		if e.pins > 0 {
			out = append(out, id)
		}
	}
	return out, nil
}
