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
	ino := n.EmbeddedInode()
	p := n.path()
	trunc := flags&syscall.O_TRUNC != 0
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || trunc {
		st, err := n.fsys.stage(ino, p, trunc)
		if err != nil {
			return nil, 0, n.errno(p, err)
		}
		n.fsys.mu.Lock()
		n.cached = chunks.ID{}
		n.fsys.mu.Unlock()
		return &handle{fsys: n.fsys, ino: ino, st: st, write: true}, 0, 0
	}
	// A reader of a file someone is writing sees the staged content.
	n.fsys.mu.Lock()
	if st := n.fsys.staged[ino]; st != nil {
		st.opens++
		n.fsys.mu.Unlock()
		return &handle{fsys: n.fsys, ino: ino, st: st}, 0, 0
	}
	n.fsys.mu.Unlock()
	v, err := n.fsys.meta.Lookup(p)
	if err != nil {
		return nil, 0, n.errno(p, err)
	}
	var fl uint32
	n.fsys.mu.Lock()
	if n.cached == v.Hash {
		fl = fuse.FOPEN_KEEP_CACHE
	}
	n.cached = v.Hash
	n.fsys.mu.Unlock()
	return &handle{fsys: n.fsys, ino: ino, v: v}, fl, 0
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

// truncate resizes the staged content. Through a handle (ftruncate) the
// handle's close commits; by path (truncate(2)) there is no close, so it
// commits at once, sharing the staging file of handles open meanwhile.
func (n *fileNode) truncate(fh fs.FileHandle, size int64) error {
	if h, ok := fh.(*handle); ok && h.st != nil {
		return h.st.truncate(size)
	}
	st, err := n.fsys.stage(n.EmbeddedInode(), n.path(), false)
	if err != nil {
		return err
	}
	err = st.truncate(size)
	if err == nil {
		err = n.fsys.commitStaged(st)
	}
	if uerr := n.fsys.unstage(st); err == nil {
		err = uerr
	}
	return err
}
