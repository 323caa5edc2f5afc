package meta

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
)

// ImportBatch is how many changes Import commits at a time, so that
// devices start syncing during a long first scan.
const ImportBatch = 1000

// Import parallelism: files being read and stored at once, and entries
// walked ahead of the oldest one not yet stored.
const (
	importWorkers = 8
	importAhead   = 256
)

// Import walks dir into db (dir becomes the root of the tree), chunking
// regular files into store and committing every ImportBatch entries, in
// walk order. It first counts the entries and bytes to do, then reports
// progress after each entry. Up to importWorkers files are read and stored
// at once (store must be safe for concurrent use), which hides the store's
// per-chunk sync latency.
//
// Directories, regular files and symlinks are imported; sockets, devices
// and pipes are skipped with a log line, as are entries whose name is not a
// valid path (a top-level ".latus", over-long names) and unreadable files.
// A path that is already live with the same kind and content is left
// alone (a file with the same size, mtime and mode is not even read); one with the same kind and other content gets a Modified version;
// one of another kind is skipped with a log line. Import stops when ctx is
// done, keeping the batches already committed.
func Import(ctx context.Context, dir string, db *DB, store Putter, progress func(ImportProgress)) error {
	return ImportWith(ctx, dir, db, store, ImportOptions{Progress: progress})
}

// ImportOptions are Import's optional hooks.
type ImportOptions struct {
	Progress func(ImportProgress)
	// Ignored says which entries (slash-separated, relative to dir) stay
	// out, with their contents (.latusignore); nil: none.
	Ignored func(rel string, isDir bool) bool
	// Committed is called with the versions of each batch once it is
	// committed (engine.Committed: devices hear of it batch by batch),
	// one batch at a time and in order, from the goroutine that commits
	// in the background: it may run while Progress does.
	Committed func([]FileVersion)
}

// ImportWith is Import with hooks.
func ImportWith(ctx context.Context, dir string, db *DB, store Putter, opts ImportOptions) error {
	progress := opts.Progress
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

	// Workers put files ahead of the batch being committed: one hold over
	// the whole import keeps every uncommitted chunk from collection.
	release := store.Hold()
	defer release()
	var pr ImportProgress
	walk := func(root string, fn func(rel, full string, d fs.DirEntry) error, invalid func(string, error)) error {
		return walkTree(root, func(rel, full string, d fs.DirEntry) error {
			if opts.Ignored != nil && opts.Ignored(rel, d.IsDir()) {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			return fn(rel, full, d)
		}, invalid)
	}
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

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	im := &importer{ctx: ctx, db: db, store: store, log: db.log.With("import", root), pr: pr, progress: progress, committed: opts.Committed}
	work := make(chan func())
	var wg sync.WaitGroup
	for range importWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				f()
			}
		}()
	}
	err = walk(root, func(rel, full string, d fs.DirEntry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		j := &importJob{rel: rel, done: make(chan importResult, 1)}
		if d.IsDir() {
			// Inline: whether to descend depends on the result.
			r := im.prepare(rel, full, d)
			j.done <- r
			if r.err == nil && r.skip {
				defer func() { im.pending = append(im.pending, j) }()
				return fs.SkipDir
			}
		} else {
			select {
			case work <- func() { j.done <- im.prepare(rel, full, d) }:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		im.pending = append(im.pending, j)
		return im.drain(importAhead)
	}, func(rel string, err error) {
		im.log.Warn("skipped: name not allowed in the tree", "path", rel, "err", err)
	})
	if err == nil {
		err = im.drain(0)
	}
	if err == nil {
		err = im.flush()
	}
	if werr := im.wait(); err == nil {
		err = werr
	}
	cancel()
	close(work)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("import %s: %w", dir, err)
	}
	return nil
}

type importer struct {
	ctx       context.Context
	db        *DB
	store     Putter
	log       *slog.Logger
	pr        ImportProgress
	progress  func(ImportProgress)
	committed func([]FileVersion) // nil: nobody to tell
	pending   []*importJob        // walked entries not yet in the batch, in walk order
	batch     []Change
	inflight  chan error // the batch being committed in the background; nil: none
}

type importJob struct {
	rel  string
	done chan importResult // buffered: the worker never blocks
}

type importResult struct {
	change *Change // nil: nothing to record
	size   int64   // bytes of a regular file stored
	skip   bool
	err    error
}

// drain moves finished entries, oldest first, into the batch until at most
// keep are pending, committing full batches.
func (im *importer) drain(keep int) error {
	for len(im.pending) > keep {
		if err := im.ctx.Err(); err != nil {
			return err
		}
		j := im.pending[0]
		var r importResult
		select {
		case r = <-j.done:
		case <-im.ctx.Done():
			return im.ctx.Err()
		}
		im.pending[0] = nil
		im.pending = im.pending[1:]
		if r.err != nil {
			return fmt.Errorf("%s: %w", j.rel, r.err)
		}
		im.pr.Files++
		im.pr.Bytes += r.size
		im.pr.Path = j.rel
		if r.change != nil {
			im.batch = append(im.batch, *r.change)
			if len(im.batch) >= ImportBatch {
				if err := im.flush(); err != nil {
					return err
				}
			}
		}
		im.progress(im.pr)
	}
	return nil
}

// prepare reads one walked entry, storing a regular file's content, and
// returns the change to record for it.
func (im *importer) prepare(rel, full string, d fs.DirEntry) importResult {
	fi, err := d.Info()
	if err != nil {
		return importResult{err: err}
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
			return importResult{err: err}
		}
		f.Size = int64(len(f.Target))
	default:
		im.log.Warn("skipped: not a file, directory or symlink", "path", rel, "type", t.String())
		return importResult{skip: true}
	}

	cur, err := im.db.Lookup(rel)
	exists := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return importResult{err: err}
	}
	if exists && cur.Kind != f.Kind {
		im.log.Warn("skipped: already in the tree as another kind", "path", rel, "have", cur.Kind, "found", f.Kind)
		return importResult{skip: true}
	}
	var size int64
	if exists && f.Kind == KindFile && cur.Size == fi.Size() && cur.MTime.Equal(normTime(f.MTime)) && cur.Mode == f.Mode {
		// Same size, mtime and mode as the version in the tree: taken as
		// unchanged without reading it (as rsync and git do), so a rescan
		// of a followed folder costs a stat per file.
		return importResult{size: cur.Size}
	}
	if f.Kind == KindFile {
		if err := im.putFile(full, &f); errors.Is(err, fs.ErrPermission) {
			im.log.Warn("skipped: cannot read", "path", rel, "err", err)
			return importResult{skip: true}
		} else if err != nil {
			return importResult{err: err}
		}
		size = f.Size
	}
	kind := Created
	if exists {
		if sameContent(cur, f) && cur.Mode == f.Mode {
			return importResult{size: size}
		}
		kind = Modified
	}
	return importResult{change: &Change{Kind: kind, Path: rel, File: f}, size: size}
}

func (im *importer) putFile(full string, f *FileVersion) error {
	r, err := os.Open(full)
	if err != nil {
		return err
	}
	defer r.Close()
	c, err := PutContent(im.store, contextReader{im.ctx, r})
	if err != nil {
		return err
	}
	f.Size, f.Hash, f.Chunks, f.Inline = c.Size, c.Hash, c.Chunks, c.Inline
	return nil
}

// flush commits the batch in the background once the previous batch is
// committed: reading the next files overlaps the synced commit, and
// batches still commit one at a time, in walk order.
func (im *importer) flush() error {
	if err := im.wait(); err != nil {
		return err
	}
	if len(im.batch) == 0 {
		return nil
	}
	batch, done := im.batch, make(chan error, 1)
	im.batch, im.inflight = make([]Change, 0, ImportBatch), done
	go func() {
		vs, err := im.db.Commit(batch)
		if err == nil && im.committed != nil {
			im.committed(vs)
		}
		done <- err
	}()
	return nil
}

// wait returns once the batch committing in the background (if any) is
// committed, with its error.
func (im *importer) wait() error {
	if im.inflight == nil {
		return nil
	}
	err := <-im.inflight
	im.inflight = nil
	return err
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

// walkTree calls fn for every entry under root (root itself excluded) with its
// slash-separated path relative to root, in lexical order, parents first.
// Entries whose relative path fails ValidatePath are passed to invalid and
// left out, with their contents.
func walkTree(root string, fn func(rel, full string, d fs.DirEntry) error, invalid func(rel string, err error)) error {
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
