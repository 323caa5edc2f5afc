package fusefs

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/uberan/latus/meta"
)

// stagedFile is a file open for writing: its whole content in a local
// file, committed as a new version on flush, fsync and last release.
type stagedFile struct {
	ino *fs.Inode

	mu       sync.Mutex // guards everything below and the file's content
	f        *os.File
	dirty    bool // changed since the last commit
	opens    int  // handles using this staging file
	unlinked bool // the path was deleted or replaced: never commit
}

func (st *stagedFile) size() (int64, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	fi, err := st.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (f *FS) stagedOf(ino *fs.Inode) *stagedFile {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.staged[ino]
}

// stage returns the staging file of ino, at path p, creating it from the
// current version unless trunc says the content is discarded anyway. p is
// passed in because a node being created is not in the tree yet.
func (f *FS) stage(ino *fs.Inode, p string, trunc bool) (*stagedFile, error) {
	f.mu.Lock()
	if st := f.staged[ino]; st != nil {
		st.opens++
		f.mu.Unlock()
		if trunc {
			st.mu.Lock()
			defer st.mu.Unlock()
			if err := st.f.Truncate(0); err != nil {
				return nil, err
			}
			st.dirty = true
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
	st := &stagedFile{ino: ino, f: tmp, opens: 1, dirty: trunc && v.Size > 0}
	if !trunc {
		if err := f.materialize(tmp, v); err != nil {
			tmp.Close()
			return nil, fmt.Errorf("stage %s: %w", p, err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if other := f.staged[ino]; other != nil {
		// Another open staged it meanwhile: use that one.
		tmp.Close()
		other.opens++
		return other, nil
	}
	f.staged[ino] = st
	return st, nil
}

// materialize writes v's content into w, fetching missing chunks.
func (f *FS) materialize(w io.WriterAt, v meta.FileVersion) error {
	for _, r := range v.Chunks {
		data, err := f.fetcher.Get(context.Background(), r.ID)
		if err != nil {
			return err
		}
		if _, err := w.WriteAt(data, r.Offset); err != nil {
			return err
		}
	}
	return nil
}

// commitStaged chunks and commits st's content if it changed.
func (f *FS) commitStaged(st *stagedFile) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.dirty || st.unlinked {
		return nil
	}
	p := st.ino.Path(st.ino.Root())
	cur, err := f.meta.Lookup(p)
	if err != nil {
		return fmt.Errorf("commit %s: %w", p, err)
	}
	fi, err := st.f.Stat()
	if err != nil {
		return err
	}
	release := f.store.Hold() // chunks stay uncollected until committed (chunks/sweep.go)
	defer release()
	refs, hash, size, err := f.store.PutStream(io.NewSectionReader(st.f, 0, fi.Size()))
	if err != nil {
		return fmt.Errorf("commit %s: %w", p, err)
	}
	nv := meta.FileVersion{Kind: meta.KindFile, Mode: cur.Mode, Size: size, MTime: time.Now(), Chunks: refs, Hash: hash}
	if _, err := f.commit(meta.Change{Kind: meta.Modified, Path: p, File: nv}); err != nil {
		return fmt.Errorf("commit %s: %w", p, err)
	}
	st.dirty = false
	return nil
}

// unstage drops one user of st; the last one commits and closes it.
func (f *FS) unstage(st *stagedFile) error {
	f.mu.Lock()
	st.opens--
	last := st.opens == 0
	if last {
		delete(f.staged, st.ino)
	}
	f.mu.Unlock()
	if !last {
		return nil
	}
	err := f.commitStaged(st)
	st.mu.Lock()
	st.f.Close()
	st.mu.Unlock()
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
