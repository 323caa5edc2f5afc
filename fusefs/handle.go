package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/uberan/latus/chunks"
)

// handle is an open file: either a staged file (open for writing, or
// opened while someone writes) or a snapshot of one version's chunks.
type handle struct {
	fsys  *FS
	ino   *fs.Inode
	st    *stagedFile // nil for a read-only snapshot
	write bool
	wrote bool // this handle wrote since it was opened or last flushed
	refs  []chunks.Ref
	size  int64
}

func (h *handle) path() string { return h.ino.Path(h.ino.Root()) }

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if h.st != nil {
		h.st.mu.Lock()
		defer h.st.mu.Unlock()
		n, err := h.st.f.ReadAt(dest, off)
		if n > 0 || err == nil {
			return fuse.ReadResultData(dest[:n]), 0
		}
		return fuse.ReadResultData(nil), 0 // EOF
	}
	n, err := h.readChunks(ctx, dest, off)
	if err != nil {
		return nil, toErrno(h.fsys.log, h.path(), err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// readChunks copies [off, off+len(dest)) from the chunks it touches,
// fetching the missing ones.
func (h *handle) readChunks(ctx context.Context, dest []byte, off int64) (int, error) {
	n := 0
	for _, sp := range explodeRange(h.refs, off, int64(len(dest))) {
		data, err := h.fsys.fetcher.Get(ctx, sp.Ref.ID)
		if err != nil {
			return 0, err
		}
		if int64(len(data)) != sp.Ref.Size {
			return 0, chunks.ErrCorrupt
		}
		n += copy(dest[n:], data[sp.Start:sp.End])
	}
	return n, nil
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if h.st == nil || !h.write {
		return 0, syscall.EBADF
	}
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	n, err := h.st.f.WriteAt(data, off)
	if n > 0 {
		h.st.dirty = true
		h.wrote = true
	}
	if err != nil {
		return uint32(n), toErrno(h.fsys.log, h.path(), err)
	}
	return uint32(n), 0
}

// Flush runs at every close(2) of a descriptor of this handle. It commits
// only what this handle wrote: a shell's "> file" opens, dups and closes
// the first descriptor before writing, and that close must not record an
// empty version. The last release commits whatever is left.
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	if h.st == nil || !h.write {
		return 0
	}
	h.st.mu.Lock()
	wrote := h.wrote
	h.wrote = false
	h.st.mu.Unlock()
	if !wrote {
		return 0
	}
	return toErrno(h.fsys.log, h.path(), h.fsys.commitStaged(h.st))
}

func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if h.st == nil || !h.write {
		return 0
	}
	return toErrno(h.fsys.log, h.path(), h.fsys.commitStaged(h.st))
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	if h.st == nil {
		return 0
	}
	return toErrno(h.fsys.log, h.path(), h.fsys.unstage(h.st))
}
