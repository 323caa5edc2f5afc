package fusefs

import (
	"context"
	"errors"
	"io"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

// handle is an open file: either a staged file (open for writing, or
// opened while someone writes) or a snapshot of one version's chunks.
type handle struct {
	fsys  *FS
	ino   *fs.Inode
	st    *stagedFile       // nil for a read-only snapshot
	write bool              // opened for writing (or with O_TRUNC): its closes commit
	v     meta.FileVersion  // the version a snapshot opened
	ra    *chunks.ReadAhead // a snapshot's sequential reads fetch the chunks after them; nil otherwise
}

// version is the content the handle opened: a snapshot's version, or the
// version a staged file started from.
func (h *handle) version() meta.FileVersion {
	if h.st == nil {
		return h.v
	}
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	return h.st.base
}

func (h *handle) path() string { return h.ino.Path(h.ino.Root()) }

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.readAt(ctx, dest, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, toErrno(h.fsys.log, h.path(), err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// readAt reads the handle's content; io.EOF (possibly with n > 0) only at
// the end. A staging file's read error is an error, never an early EOF.
func (h *handle) readAt(ctx context.Context, dest []byte, off int64) (int, error) {
	if h.st != nil {
		return h.st.readAt(ctx, dest, off)
	}
	h.ra.Read(off, int64(len(dest)))
	return h.fsys.readContent(ctx, h.v, dest, off)
}

// readContent copies [off, off+len(dest)) of v's content: from the record
// when it is inline, else from its chunks.
func (f *FS) readContent(ctx context.Context, v meta.FileVersion, dest []byte, off int64) (int, error) {
	if v.IsInline() {
		if off >= int64(len(v.Inline)) {
			return 0, nil
		}
		return copy(dest, v.Inline[off:]), nil
	}
	return f.readChunks(ctx, v.Chunks, dest, off)
}

// readChunks copies [off, off+len(dest)) of the content refs from the
// chunks it touches, fetching the missing ones.
func (f *FS) readChunks(ctx context.Context, refs []chunks.Ref, dest []byte, off int64) (int, error) {
	n := 0
	for _, sp := range explodeRange(refs, off, int64(len(dest))) {
		data, err := f.fetcher.Get(ctx, sp.Ref.ID)
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
	n, err := h.st.writeAt(data, off)
	if err != nil {
		return uint32(n), toErrno(h.fsys.log, h.path(), err)
	}
	return uint32(n), 0
}

// Flush runs at every close(2) of a descriptor of this handle, after the
// kernel has written back the file's dirty mmap pages. It commits every
// change made since the last commit, whatever made it (write, truncate,
// fallocate, copy_file_range, mmap), so an open after close(2) returns sees
// it here and on other devices. The one exception is described at
// stagedFile.needsCommitAtClose.
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	if h.st == nil || !h.write || !h.st.needsCommitAtClose() {
		return 0
	}
	return toErrno(h.fsys.log, h.path(), h.fsys.commitStaged(h.st))
}

// Fsync commits the handle's changes, if any, and makes them durable
// with everything committed before: chunks first, then the versions
// (closes only journal their commits, see meta's batch.go). A read-only
// handle syncs too: `sync FILE` opens the file read-only after a close.
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if h.st != nil && h.write {
		if err := h.fsys.commitStaged(h.st); err != nil {
			return toErrno(h.fsys.log, h.path(), err)
		}
	}
	return toErrno(h.fsys.log, h.path(), h.fsys.sync())
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	h.ra.Close()
	if h.st == nil {
		return 0
	}
	return toErrno(h.fsys.log, h.path(), h.fsys.unstage(h.st))
}
