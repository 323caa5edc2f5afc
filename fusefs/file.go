package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/uberan/latus/chunks"
)

// fileNode is a regular file.
type fileNode struct {
	node
	// cached is the content hash the kernel's page cache holds, so an open
	// of unchanged content may keep it (FOPEN_KEEP_CACHE). Guarded by
	// FS.mu.
	cached chunks.ID
}

// Open stages the file when it is opened for writing or with O_TRUNC (the
// mount asks for ATOMIC_O_TRUNC, so O_TRUNC arrives here rather than as a
// separate truncate).
func (n *fileNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fl, err := n.fsys.openFile(n.EmbeddedInode(), n.path(), flags, &n.cached)
	if err != nil {
		return nil, 0, n.errno(n.path(), err)
	}
	return fh, fl, 0
}

// openFile opens the file at p (inode ino). Writers share its staging
// file; a reader of a file someone is writing sees the staged content,
// others a snapshot of the current version. cached, when not nil, is the
// content hash the kernel's page cache holds for the node: the same one
// again keeps it (FOPEN_KEEP_CACHE).
func (f *FS) openFile(ino *fs.Inode, p string, flags uint32, cached *chunks.ID) (fs.FileHandle, uint32, error) {
	trunc := flags&syscall.O_TRUNC != 0
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || trunc {
		st, err := f.stage(ino, p, trunc)
		if err != nil {
			return nil, 0, err
		}
		if cached != nil {
			f.mu.Lock()
			*cached = chunks.ID{}
			f.mu.Unlock()
		}
		return &handle{fsys: f, ino: ino, st: st, write: true}, 0, nil
	}
	f.mu.Lock()
	if st := f.staged[ino]; st != nil {
		st.opens++
		f.mu.Unlock()
		return &handle{fsys: f, ino: ino, st: st}, 0, nil
	}
	f.mu.Unlock()
	v, err := f.meta.Lookup(p)
	if err != nil {
		return nil, 0, err
	}
	var fl uint32
	if cached != nil {
		f.mu.Lock()
		if *cached == v.Hash {
			fl = fuse.FOPEN_KEEP_CACHE
		}
		*cached = v.Hash
		f.mu.Unlock()
	}
	return &handle{fsys: f, ino: ino, v: v, ra: f.fetcher.ReadAhead(v.Chunks)}, fl, nil
}

// Setattr adds truncate to chmod and utimens.
func (n *fileNode) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	p := n.path()
	if size, ok := in.GetSize(); ok {
		if err := n.truncate(fh, int64(size)); err != nil {
			return n.errno(p, err)
		}
	}
	if err := n.setattr(in); err != nil {
		return n.errno(p, err)
	}
	return n.Getattr(ctx, fh, out)
}

// truncate resizes the file's content (truncateFile).
func (n *fileNode) truncate(fh fs.FileHandle, size int64) error {
	return n.fsys.truncateFile(n.EmbeddedInode(), n.path(), fh, size)
}

// truncateFile resizes the staged content of the file at p. Through a
// handle (ftruncate) the handle's close commits; by path (truncate(2))
// there is no close, so it commits at once, sharing the staging file of
// handles open meanwhile.
func (f *FS) truncateFile(ino *fs.Inode, p string, fh fs.FileHandle, size int64) error {
	if h, ok := fh.(*handle); ok && h.st != nil {
		return h.st.truncate(size)
	}
	st, err := f.stage(ino, p, false)
	if err != nil {
		return err
	}
	err = st.truncate(size)
	if err == nil {
		err = f.commitStaged(st)
	}
	if uerr := f.unstage(st); err == nil {
		err = uerr
	}
	return err
}
