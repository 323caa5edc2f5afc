package chunks

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

const tmpPrefix = ".tmp-"

// chunkDir is Dir/xx, xx being the first byte of the id in hex.
func (s *Store) chunkDir(id ID) string {
	return filepath.Join(s.dir, hex.EncodeToString(id[:1]))
}

func (s *Store) chunkPath(id ID) string {
	return filepath.Join(s.chunkDir(id), id.String())
}

// writeChunkFile stores b as id's chunk file. durable: temp file, fsync,
// rename, fsync of the directory. Otherwise the file is written in place
// and left to the next Sync (durable.go): the chunk is not complete until
// it is written, so no reader opens it half-written, and a crash that
// leaves it torn leaves it unknown to the index (scanFiles removes it).
func (s *Store) writeChunkFile(id ID, b []byte, durable bool) (err error) {
	dir := s.chunkDir(id)
	if !s.dirMade[id[0]].Load() {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("chunk %s: %w", id.Short(), err)
		}
		s.dirMade[id[0]].Store(true)
	}
	if !durable {
		if err := os.WriteFile(s.chunkPath(id), b, 0o600); err != nil {
			return fmt.Errorf("chunk %s: %w", id.Short(), err)
		}
		return nil
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return fmt.Errorf("chunk %s: %w", id.Short(), err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("chunk %s: write %s: %w", id.Short(), tmp, err)
	}
	if err = os.Rename(tmp, s.chunkPath(id)); err != nil {
		return fmt.Errorf("chunk %s: %w", id.Short(), err)
	}
	if err = syncPath(dir); err != nil {
		return fmt.Errorf("chunk %s: %w", id.Short(), err)
	}
	return nil
}

// syncPath fsyncs a file or a directory.
func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", p, err)
	}
	return nil
}

// removeChunkFile deletes id's chunk file; a file already gone is fine.
func (s *Store) removeChunkFile(id ID) error {
	if err := os.Remove(s.chunkPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("chunk %s: %w", id.Short(), err)
	}
	return nil
}

// scanFiles reconciles the chunk files with the index after a restart:
// temp files and files of chunks the index does not hold complete (a crash
// between rename and index commit) are deleted, and complete records whose
// file is gone are returned so the caller can mark them missing.
func (s *Store) scanFiles() (lost []ID, err error) {
	seen := make(map[ID]bool)
	for i := range 256 {
		dir := filepath.Join(s.dir, hex.EncodeToString([]byte{byte(i)}))
		des, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.dirMade[i].Store(true)
		for _, de := range des {
			name := de.Name()
			p := filepath.Join(dir, name)
			if strings.HasPrefix(name, tmpPrefix) {
				s.log.Debug("removing leftover temp file", "path", p)
				_ = os.Remove(p)
				continue
			}
			id, err := ParseID(name)
			if err != nil || id[0] != byte(i) {
				s.log.Warn("unexpected file in chunk store, leaving it", "path", p)
				continue
			}
			if e := s.entries[id]; e == nil || e.state != Complete {
				s.log.Info("removing chunk file the index does not know", "chunk", id.Short())
				_ = os.Remove(p)
				continue
			}
			seen[id] = true
		}
	}
	for id, e := range s.entries {
		if e.state == Complete && !seen[id] {
			lost = append(lost, id)
		}
	}
	return lost, nil
}
