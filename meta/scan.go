package meta

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ImportBatch is how many changes Import commits at a time, so that
// devices start syncing during a long first scan.
const ImportBatch = 1000

// Import walks dir into db (dir becomes the root of the tree), chunking
// regular files into store and committing every ImportBatch entries. It
// first counts the files and bytes to do, then reports progress after each
// entry. Directories, regular files and symlinks are imported; sockets,
// devices and pipes are skipped with a log line, as are entries whose name
// is not a valid path (a top-level ".latus", over-long names). A path that
// is already live with the same kind and content is left alone; one with
// the same kind and other content gets a Modified version; one of another
// kind is skipped with a log line. Import stops when ctx is done, keeping
// the batches already committed.
func Import(ctx context.Context, dir string, db *DB, store Putter, progress func(ImportProgress)) error {
	if progress == nil {
		progress = func(ImportProgress) {}
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("import %s: %w", dir, err)
	}
	if fi, err := os.Stat(root); err != nil {
		return fmt.Errorf("import: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("import %s: not a directory", dir)
	}

	var pr ImportProgress
	err = walk(root, func(rel, full string, d fs.DirEntry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		pr.TotalFiles++
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				pr.TotalBytes += fi.Size()
			}
		}
		return nil
	}, func(string, error) {})
	if err != nil {
		return fmt.Errorf("import %s: count: %w", dir, err)
	}

	im := importer{ctx: ctx, root: root, db: db, store: store, log: db.log.With("import", root)}
	err = walk(root, func(rel, full string, d fs.DirEntry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		skip, err := im.entry(rel, full, d)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		pr.Files++
		if d.Type().IsRegular() && !skip {
			pr.Bytes += im.lastSize
		}
		pr.Path = rel
		if len(im.batch) >= ImportBatch {
			if err := im.flush(); err != nil {
				return err
			}
		}
		progress(pr)
		if skip && d.IsDir() {
			return fs.SkipDir
		}
		return nil
	}, func(rel string, err error) {
		im.log.Warn("skipped: name not allowed in the tree", "path", rel, "err", err)
	})
	if err == nil {
		err = im.flush()
	}
	if err != nil {
		return fmt.Errorf("import %s: %w", dir, err)
	}
	return nil
}

type importer struct {
	ctx      context.Context
	root     string
	db       *DB
	store    Putter
	log      interface{ Warn(string, ...any) }
	batch    []Change
	lastSize int64 // bytes of the last regular file stored
}

// entry adds the change for one walked entry to the batch; skip reports
// that the entry (and, for a directory, its contents) is left out.
func (im *importer) entry(rel, full string, d fs.DirEntry) (skip bool, err error) {
	im.lastSize = 0
	fi, err := d.Info()
	if err != nil {
		return false, err
	}
	f := FileVersion{Mode: unixPerm(fi.Mode()), MTime: fi.ModTime()}
	switch t := fi.Mode().Type(); {
	case t == 0:
		f.Kind = KindFile
	case t == fs.ModeDir:
		f.Kind = KindDir
	case t == fs.ModeSymlink:
		f.Kind = KindSymlink
		if f.Target, err = os.Readlink(full); err != nil {
			return false, err
		}
		f.Size = int64(len(f.Target))
	default:
		im.log.Warn("skipped: not a file, directory or symlink", "path", rel, "type", t.String())
		return true, nil
	}

	cur, err := im.db.Lookup(rel)
	exists := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return false, err
	}
	if exists && cur.Kind != f.Kind {
		im.log.Warn("skipped: already in the tree as another kind", "path", rel, "have", cur.Kind, "found", f.Kind)
		return true, nil
	}
	if f.Kind == KindFile {
		if err := im.putFile(full, &f); errors.Is(err, fs.ErrPermission) {
			im.log.Warn("skipped: cannot read", "path", rel, "err", err)
			return true, nil
		} else if err != nil {
			return false, err
		}
		im.lastSize = f.Size
	}
	kind := Created
	if exists {
		if sameContent(cur, f) && cur.Mode == f.Mode {
			return false, nil
		}
		kind = Modified
	}
	im.batch = append(im.batch, Change{Kind: kind, Path: rel, File: f})
	return false, nil
}

func (im *importer) putFile(full string, f *FileVersion) error {
	r, err := os.Open(full)
	if err != nil {
		return err
	}
	defer r.Close()
	refs, hash, size, err := im.store.PutStream(contextReader{im.ctx, r})
	if err != nil {
		return fmt.Errorf("store content: %w", err)
	}
	f.Chunks, f.Hash, f.Size = refs, hash, size
	return nil
}

func (im *importer) flush() error {
	if len(im.batch) == 0 {
		return nil
	}
	if _, err := im.db.Commit(im.batch); err != nil {
		return err
	}
	im.batch = im.batch[:0]
	return nil
}

// unixPerm converts Go's mode bits to the 0o7777 permission bits.
func unixPerm(m fs.FileMode) uint32 {
	p := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}

// contextReader stops a long file read when ctx is done.
type contextReader struct {
	ctx context.Context
	r   *os.File
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// walk calls fn for every entry under root (root itself excluded) with its
// slash-separated path relative to root, in lexical order, parents first.
// Entries whose relative path fails ValidatePath are passed to invalid and
// left out, with their contents.
func walk(root string, fn func(rel, full string, d fs.DirEntry) error, invalid func(rel string, err error)) error {
	return filepath.WalkDir(root, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk: %w", err)
		}
		if full == root {
			return nil
		}
		rel, err := filepath.Rel(root, full)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if err := ValidatePath(rel); err != nil {
			invalid(rel, err)
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		return fn(rel, full, d)
	})
}
