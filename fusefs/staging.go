package fusefs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/uberan/latus/meta"
)

// stagedFile is a file open for writing: its content in a local file,
// committed as a new version when a descriptor that changed it is closed,
// on fsync and on the last release.
//
// The staging file is filled lazily: until a change needs the old bytes
// (a write, a truncate to a size above 0), the content is base's chunks and
// reads go to them. A truncate to 0 never reads the old content, so a file
// whose bytes are only on an offline device can still be overwritten.
type stagedFile struct {
	ino  *fs.Inode
	fsys *FS

	mu           sync.Mutex // guards everything below and the file's content
	f            *os.File
	base         meta.FileVersion // the version the content started from, or last committed
	materialized bool             // f holds the content; until then base does
	dirty        bool             // changed since the last commit
	truncOnly    bool             // the only change since the last commit is an open with O_TRUNC
	created      bool             // made by Create and not committed since: the first commit folds into the created version
	mtime        time.Time        // set by utimens since the last change to the content: the next commit keeps it
	opens        int              // handles (and path truncates) using this staging file
	unlinked     bool             // the path was deleted or replaced: never commit
	closed       bool             // released: committed or kept (rescue.go)
}

func (st *stagedFile) size() (int64, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.sizeLocked()
}

func (st *stagedFile) sizeLocked() (int64, error) {
	if !st.materialized {
		return st.base.Size, nil
	}
	fi, err := st.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// changedLocked records a change to the content.
func (st *stagedFile) changedLocked() {
	st.dirty = true
	st.truncOnly = false
	st.mtime = time.Time{} // a write after utimens moves the mtime to now
}

// setMTime records an mtime set while the file is staged (tar's futimens
// before close): the commit of the content keeps it.
func (st *stagedFile) setMTime(t time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.mtime = t
}

// materializeLocked copies base's chunks that start below limit into the
// staging file, fetching missing ones, and marks the file materialized.
func (st *stagedFile) materializeLocked(limit int64) error {
	if st.materialized {
		return nil
	}
	if st.base.IsInline() {
		if _, err := st.f.WriteAt(st.base.Inline[:min(limit, st.base.Size)], 0); err != nil {
			return fmt.Errorf("materialize: %w", err)
		}
	}
	for _, r := range st.base.Chunks {
		if r.Offset >= limit {
			break
		}
		data, err := st.fsys.fetcher.Get(context.Background(), r.ID)
		if err != nil {
			return fmt.Errorf("materialize: %w", err)
		}
		if _, err := st.f.WriteAt(data, r.Offset); err != nil {
			return fmt.Errorf("materialize: %w", err)
		}
	}
	if err := st.f.Truncate(min(limit, st.base.Size)); err != nil {
		return err
	}
	st.materialized = true
	return nil
}

// readAt reads the current content: the staging file once materialized,
// base's chunks before. It returns io.EOF only at or past the end.
func (st *stagedFile) readAt(ctx context.Context, dest []byte, off int64) (int, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.materialized {
		n, err := st.fsys.readContent(ctx, st.base, dest, off)
		if err == nil && n == 0 && len(dest) > 0 {
			err = io.EOF
		}
		return n, err
	}
	return st.f.ReadAt(dest, off)
}

func (st *stagedFile) writeAt(data []byte, off int64) (int, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := st.materializeLocked(st.base.Size); err != nil {
		return 0, err
	}
	n, err := st.f.WriteAt(data, off)
	if n > 0 {
		st.changedLocked()
	}
	return n, err
}

// truncate resizes the content. Shrinking materializes only what is kept,
// so a truncate to 0 fetches nothing.
func (st *stagedFile) truncate(size int64) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	old, err := st.sizeLocked()
	if err != nil {
		return err
	}
	if err := st.materializeLocked(size); err != nil {
		return err
	}
	if err := st.f.Truncate(size); err != nil {
		return err
	}
	if size != old {
		st.changedLocked()
	}
	return nil
}

// openTrunc is an open with O_TRUNC of an already staged file.
func (st *stagedFile) openTrunc() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	old, err := st.sizeLocked()
	if err != nil {
		return err
	}
	if err := st.f.Truncate(0); err != nil {
		return err
	}
	st.materialized = true
	if old > 0 {
		st.truncOnly = !st.dirty || st.truncOnly
		st.dirty = true
	}
	return nil
}

// needsCommitAtClose says whether a close(2) must commit: every change
// must be in the store when close returns (close-to-open), except an
// open's O_TRUNC alone. A shell's "> file" opens with O_TRUNC, dups the
// descriptor and closes the first one before writing; committing there
// would record an empty version before every overwrite. That truncation
// is committed by the next close that follows a change, or by the last
// release; until then every open, stat and read on this mount sees the
// staged (empty) content, because the staging file stays in FS.staged
// until it is committed.
func (st *stagedFile) needsCommitAtClose() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.dirty && !st.truncOnly && !st.unlinked
}

func (f *FS) stagedOf(ino *fs.Inode) *stagedFile {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.staged[ino]
}

// stage returns the staging file of ino, at path p, creating it over the
// current version; trunc empties it (open with O_TRUNC). p is passed in
// because a node being created is not in the tree yet. Nothing is fetched
// here: the content is materialized when a change needs it.
func (f *FS) stage(ino *fs.Inode, p string, trunc bool) (*stagedFile, error) {
	f.mu.Lock()
	if st := f.staged[ino]; st != nil {
		st.opens++
		f.mu.Unlock()
		if trunc {
			if err := st.openTrunc(); err != nil {
				f.unstage(st)
				return nil, err
			}
		}
		return st, nil
	}
	f.mu.Unlock()

	v, err := f.meta.Lookup(p)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(f.staging, "stage-*")
	if err != nil {
		return nil, fmt.Errorf("stage %s: %w", p, err)
	}
	os.Remove(tmp.Name()) // lives as long as the descriptor
	st := &stagedFile{ino: ino, fsys: f, f: tmp, base: v, opens: 1}
	if trunc {
		st.materialized = true
		if v.Size > 0 {
			st.dirty, st.truncOnly = true, true
		}
	}
	f.mu.Lock()
	other := f.staged[ino]
	if other == nil {
		f.staged[ino] = st
		f.mu.Unlock()
		return st, nil
	}
	// Another open staged it meanwhile: use that one.
	other.opens++
	f.mu.Unlock()
	tmp.Close()
	if trunc {
		if err := other.openTrunc(); err != nil {
			f.unstage(other)
			return nil, err
		}
	}
	return other, nil
}

// commitStaged chunks and commits st's content if it changed.
func (f *FS) commitStaged(st *stagedFile) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return f.commitStagedLocked(st)
}

func (f *FS) commitStagedLocked(st *stagedFile) error {
	if !st.dirty || st.unlinked || st.closed {
		return nil
	}
	p := st.ino.Path(st.ino.Root())
	if err := st.materializeLocked(st.base.Size); err != nil {
		return fmt.Errorf("commit %s: %w", p, err)
	}
	cur, err := f.meta.Lookup(p)
	if err != nil {
		return fmt.Errorf("commit %s: %w", p, err)
	}
	fi, err := st.f.Stat()
	if err != nil {
		return fmt.Errorf("commit %s: %w", p, err)
	}
	release := f.store.Hold() // chunks stay uncollected until committed (chunks/sweep.go)
	defer release()
	nv, err := f.putContent(io.NewSectionReader(st.f, 0, fi.Size()), cur.Mode)
	if err != nil {
		return fmt.Errorf("commit %s: %w", p, err)
	}
	if !st.mtime.IsZero() {
		nv.MTime = st.mtime
	}
	// A file created and written through one handle is one version: the
	// first commit replaces the empty version Create made while that is
	// still pending (meta.Change.Fold).
	vs, err := f.commit(meta.Change{Kind: meta.Modified, Path: p, File: nv, Fold: st.created})
	if err != nil {
		return fmt.Errorf("commit %s: %w", p, err)
	}
	st.base = vs[0] // what fstat reports once the path is gone
	st.dirty, st.truncOnly, st.created, st.mtime = false, false, false, time.Time{}
	return nil
}

// putContent stores r (inline up to meta.InlineMax bytes, else as chunks
// in the store) and returns the file version that holds it.
func (f *FS) putContent(r io.Reader, mode uint32) (meta.FileVersion, error) {
	v, err := meta.PutContent(f.store, r)
	if err != nil {
		return meta.FileVersion{}, err
	}
	v.Mode, v.MTime = mode, time.Now()
	return v, nil
}

// unstage drops one user of st; the last one commits and closes it. The
// staging file stays in f.staged until its content is committed, so an
// open racing with this release (the kernel sends it after close(2) has
// returned) shares it instead of reading the previous version. When the
// last commit fails the content is kept in the rescue directory.
func (f *FS) unstage(st *stagedFile) error {
	f.mu.Lock()
	st.opens--
	last := st.opens == 0
	f.mu.Unlock()
	if !last {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	err := f.commitStagedLocked(st)
	f.mu.Lock()
	if st.opens > 0 {
		// Opened again meanwhile: that handle commits (or retries).
		f.mu.Unlock()
		return err
	}
	delete(f.staged, st.ino)
	f.mu.Unlock()
	if err != nil && st.dirty && !st.unlinked {
		if rerr := f.rescue(st, err); rerr != nil {
			f.log.Error("commit failed and the content could not be kept: it is lost", "path", st.ino.Path(st.ino.Root()), "err", err, "keep", rerr)
			err = errors.Join(err, rerr)
		}
	}
	st.f.Close()
	st.closed = true
	return err
}

// unlinked marks ino's staging file, if any, as belonging to a deleted path.
func (f *FS) unlinked(ino *fs.Inode) {
	if st := f.stagedOf(ino); st != nil {
		st.mu.Lock()
		st.unlinked = true
		st.mu.Unlock()
	}
}
