package fusefs

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"syscall"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

// toErrno maps an error from a worker to what the kernel is told. Errors
// that mean lost or unreachable data are logged with the path: the errno
// alone (EIO) tells the user nothing.
func toErrno(log *slog.Logger, path string, err error) syscall.Errno {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, meta.ErrNotFound):
		return syscall.ENOENT
	case errors.Is(err, meta.ErrExists):
		return syscall.EEXIST
	case errors.Is(err, meta.ErrNotDir):
		return syscall.ENOTDIR
	case errors.Is(err, meta.ErrNotEmpty):
		return syscall.ENOTEMPTY
	case errors.Is(err, meta.ErrInvalidPath):
		return syscall.EINVAL
	case errors.Is(err, chunks.ErrFull):
		log.Warn("cache full of data not yet on another device", "path", path, "err", err)
		return syscall.ENOSPC
	case errors.Is(err, chunks.ErrCorrupt), errors.Is(err, chunks.ErrUnavailable):
		log.Error("file data unavailable", "path", path, "err", err)
		return syscall.EIO
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.Is(err, meta.ErrClosed), errors.Is(err, chunks.ErrClosed):
		return syscall.ESHUTDOWN
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if errno == syscall.EIO {
			log.Error("I/O error", "path", path, "err", err)
		}
		return errno
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, os.ErrExist):
		return syscall.EEXIST
	case errors.Is(err, os.ErrPermission):
		return syscall.EPERM
	}
	// Anything else (a closed staging file, say) is an I/O error, never
	// go-fuse's guess.
	log.Error("unexpected error", "path", path, "err", err)
	return syscall.EIO
}
