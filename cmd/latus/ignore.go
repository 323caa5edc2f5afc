package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sync"
	"time"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/internal/ignore"
	"github.com/uberan/latus/meta"
)

// localDirName is the local-only area of ignored files in the state dir.
const localDirName = "local"

// maxIgnoreFile bounds a .latusignore read from the tree.
const maxIgnoreFile = 256 << 10

// treeIgnores reads .latusignore files from the Latus tree. get returns a
// chunk's bytes (the fetcher: a .latusignore written elsewhere is fetched
// the first time it is needed). Contents are cached by hash.
type treeIgnores struct {
	db  *meta.DB
	get func(ctx context.Context, id chunks.ID) ([]byte, error)
	log *slog.Logger

	mu    sync.Mutex // guards cache
	cache map[chunks.ID][]byte
}

func newTreeIgnores(db *meta.DB, get func(context.Context, chunks.ID) ([]byte, error), log *slog.Logger) *treeIgnores {
	return &treeIgnores{db: db, get: get, log: log, cache: map[chunks.ID][]byte{}}
}

// source is an ignore.Source over the tree.
func (ti *treeIgnores) source(dir string) ([]byte, bool, error) {
	p := ignore.FileName
	if dir != "" {
		p = path.Join(dir, ignore.FileName)
	}
	v, err := ti.db.Lookup(p)
	if errors.Is(err, meta.ErrNotFound) || (err == nil && v.Kind != meta.KindFile) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	ti.mu.Lock()
	b, ok := ti.cache[v.Hash]
	ti.mu.Unlock()
	if ok {
		return b, true, nil
	}
	if v.Size > maxIgnoreFile {
		ti.log.Warn("ignore file too big; its rules are not used", "path", p, "size", v.Size, "max", maxIgnoreFile)
		return nil, false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	buf := make([]byte, v.Size)
	copy(buf, v.Inline) // a small ignore file is inline, with no chunks
	for _, r := range v.Chunks {
		data, err := ti.get(ctx, r.ID)
		if err != nil {
			ti.log.Warn("cannot read ignore file; its rules are not used until it can be", "path", p, "err", err)
			return nil, false, err
		}
		copy(buf[r.Offset:], data)
	}
	ti.mu.Lock()
	if len(ti.cache) > 1024 {
		clear(ti.cache)
	}
	ti.cache[v.Hash] = buf
	ti.mu.Unlock()
	return buf, true, nil
}

// importIgnores is the matcher of an import of dir: a folder's
// .latusignore on disk, else the one in the tree at that place.
func importIgnores(dir string, tree ignore.Source) *ignore.Matcher {
	return ignore.New(func(rel string) ([]byte, bool, error) {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel), ignore.FileName))
		if err == nil {
			return b, true, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, false, err
		}
		if tree == nil {
			return nil, false, nil
		}
		return tree(rel)
	})
}

// countLocal counts the files in the local-only area at or under p.
func countLocal(stateDir, p string) int {
	n := 0
	root := filepath.Join(stateDir, localDirName, filepath.FromSlash(p))
	filepath.WalkDir(root, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}
