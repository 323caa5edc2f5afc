package chunks

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Read returns the plain bytes of a complete chunk, from the memory cache
// or its file (verified). It returns ErrNotFound unless the chunk is
// complete. The caller must not modify the result.
func (s *Store) Read(id ID) ([]byte, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	codec, err := s.touchComplete(id)
	if err != nil {
		return nil, err
	}
	if data, ok := s.cache.get(id); ok {
		return data, nil
	}
	stored, err := s.readFile(id)
	if err != nil {
		return nil, err
	}
	plain, err := s.codecs.decode(codec, stored)
	if err != nil {
		return nil, corruptf(id, "decode %s: %v", s.chunkPath(id), err)
	}
	if Sum(plain) != id {
		return nil, corruptf(id, "file %s does not hash to its name", s.chunkPath(id))
	}
	s.cache.add(id, plain)
	return plain, nil
}

// ReadStored returns a complete chunk in its on-disk form, for serving
// peers. It returns ErrNotFound unless the chunk is complete.
func (s *Store) ReadStored(id ID) (Codec, []byte, error) {
	if err := s.enter(); err != nil {
		return 0, nil, err
	}
	defer s.leave()
	codec, err := s.touchComplete(id)
	if err != nil {
		return 0, nil, err
	}
	stored, err := s.readFile(id)
	if err != nil {
		return 0, nil, err
	}
	return codec, stored, nil
}

func (s *Store) touchComplete(id ID) (Codec, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[id]
	if e == nil || e.state != Complete {
		return 0, fmt.Errorf("read chunk %s: %w", id.Short(), ErrNotFound)
	}
	s.touch(id, e)
	return e.codec, nil
}

// readFile reads id's chunk file. A file gone because the chunk was just
// evicted or removed is ErrNotFound; a file gone under a complete record
// (deleted behind our back) marks the chunk missing so it can be fetched
// again.
func (s *Store) readFile(id ID) ([]byte, error) {
	b, err := os.ReadFile(s.chunkPath(id))
	if err == nil {
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read chunk %s: %w", id.Short(), err)
	}
	s.lockID(id)
	defer s.unlockID(id)
	ne := s.snapshot(id)
	if ne.state == Complete {
		if _, err := os.Stat(s.chunkPath(id)); errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("chunk file lost; marking the chunk missing", "chunk", id.Short(), "path", s.chunkPath(id))
			ne.state, ne.codec, ne.size, ne.stored = Missing, CodecNone, 0, 0
			if err := s.commit(id, ne); err != nil {
				return nil, err
			}
		}
	}
	return nil, fmt.Errorf("read chunk %s: file gone: %w", id.Short(), ErrNotFound)
}
