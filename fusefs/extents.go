package fusefs

import (
	"context"
	"errors"
	"io"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"
)

// fallocate(2) modes Latus answers. A file's content is its bytes, with no
// notion of allocated space: allocating only extends the size, and a hole
// is zeros (every byte counts as data for SEEK_DATA and SEEK_HOLE).
const (
	fallocKeepSize  = unix.FALLOC_FL_KEEP_SIZE
	fallocPunchHole = unix.FALLOC_FL_PUNCH_HOLE
	fallocZeroRange = unix.FALLOC_FL_ZERO_RANGE
)

// maxCopy bounds one copy_file_range request: the call may copy less than
// asked, and callers loop.
const maxCopy = 8 << 20

func (h *handle) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	if h.st == nil || !h.write {
		return syscall.EBADF
	}
	return toErrno(h.fsys.log, h.path(), h.st.allocate(int64(off), int64(size), mode))
}

// allocate implements fallocate modes 0 and KEEP_SIZE (the size grows to
// off+n, or not), PUNCH_HOLE|KEEP_SIZE and ZERO_RANGE (zeros in the range).
// Other modes are EOPNOTSUPP.
func (st *stagedFile) allocate(off, n int64, mode uint32) error {
	if off < 0 || n <= 0 {
		return syscall.EINVAL
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	keep := mode&fallocKeepSize != 0
	zero := false
	switch mode &^ fallocKeepSize {
	case 0:
	case fallocPunchHole:
		if !keep {
			return syscall.EINVAL // as fallocate(2): a hole never changes the size
		}
		zero = true
	case fallocZeroRange:
		zero = true
	default:
		return syscall.EOPNOTSUPP
	}
	size, err := st.sizeLocked()
	if err != nil {
		return err
	}
	end := off + n
	if keep && !zero || (!zero && end <= size) {
		return nil // nothing a reader can see changes
	}
	if err := st.materializeLocked(st.base.Size); err != nil {
		return err
	}
	if zero {
		if err := zeroRange(st.f.Fd(), off, min(end, size)); err != nil {
			return err
		}
	}
	if !keep && end > size {
		if err := st.f.Truncate(end); err != nil {
			return err
		}
	}
	st.changedLocked()
	return nil
}

// zeroRange zeros [off, end) of a staging file: a punched hole where the
// filesystem has them, written zeros elsewhere.
func zeroRange(fd uintptr, off, end int64) error {
	if end <= off {
		return nil
	}
	if unix.Fallocate(int(fd), fallocPunchHole|fallocKeepSize, off, end-off) == nil {
		return nil
	}
	zeros := make([]byte, min(end-off, 1<<20))
	for off < end {
		k := min(end-off, int64(len(zeros)))
		if _, err := unix.Pwrite(int(fd), zeros[:k], off); err != nil {
			return err
		}
		off += k
	}
	return nil
}

// CopyFileRange copies through the daemon: the source is read (from its
// staging file or its chunks) and written into the destination's staging
// file. Only the destination lock is held while writing, so copies between
// two files in both directions cannot deadlock.
func (n *fileNode) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode, fhOut fs.FileHandle, offOut uint64, length uint64, flags uint64) (uint32, syscall.Errno) {
	in, ok1 := fhIn.(*handle)
	dst, ok2 := fhOut.(*handle)
	if !ok1 || !ok2 || dst.st == nil || !dst.write {
		return 0, syscall.EBADF
	}
	if flags != 0 {
		return 0, syscall.EINVAL
	}
	buf := make([]byte, min(length, maxCopy))
	got, err := in.readAt(ctx, buf, int64(offIn))
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, toErrno(n.fsys.log, in.path(), err)
	}
	if got == 0 {
		return 0, 0
	}
	wrote, err := dst.st.writeAt(buf[:got], int64(offOut))
	if err != nil {
		return uint32(wrote), toErrno(n.fsys.log, dst.path(), err)
	}
	return uint32(wrote), 0
}

// Lseek answers SEEK_DATA and SEEK_HOLE as Linux does for a file without
// holes: data everywhere before the end, the one hole at the end, ENXIO at
// or past it.
func (h *handle) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	size := uint64(h.v.Size)
	st := h.st
	if st == nil {
		st = h.fsys.stagedOf(h.ino)
	}
	if st != nil {
		sz, err := st.size()
		if err != nil {
			return 0, toErrno(h.fsys.log, h.path(), err)
		}
		size = uint64(sz)
	}
	switch whence {
	case unix.SEEK_DATA:
		if off >= size {
			return 0, syscall.ENXIO
		}
		return off, 0
	case unix.SEEK_HOLE:
		if off >= size {
			return 0, syscall.ENXIO
		}
		return size, 0
	}
	return 0, syscall.EINVAL
}
