package fusefs

import (
	"context"
	"strconv"
	"strings"
	"syscall"

	"github.com/uberan/latus/chunks"
)

// Extended attributes Latus answers on every node.
const (
	xattrState  = "user.latus.state"  // local, partial or remote
	xattrPinned = "user.latus.pinned" // 1 or 0
	xattrCopies = "user.latus.copies" // devices known to keep all the file's chunks
)

func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	var val string
	switch attr {
	case xattrState, xattrPinned:
		v, err := n.version()
		if err != nil {
			return 0, n.errno(n.path(), err)
		}
		// An inline file has no chunks: its bytes came with the version,
		// so it is local wherever its metadata is.
		ids := make([]chunks.ID, len(v.Chunks))
		for i, r := range v.Chunks {
			ids[i] = r.ID
		}
		if attr == xattrState {
			val, err = n.fsys.localState(ids)
		} else {
			val, err = n.fsys.pinnedState(ids)
		}
		if err != nil {
			return 0, n.errno(n.path(), err)
		}
	case xattrCopies:
		v, err := n.version()
		if err != nil {
			return 0, n.errno(n.path(), err)
		}
		if n.fsys.copies == nil {
			return 0, syscall.ENODATA
		}
		val = strconv.Itoa(n.fsys.copies(v))
	default:
		return 0, otherXattr(attr)
	}
	if len(dest) == 0 {
		return uint32(len(val)), 0
	}
	if len(dest) < len(val) {
		return uint32(len(val)), syscall.ERANGE
	}
	return uint32(copy(dest, val)), 0
}

// otherXattr answers a get of any attribute but Latus's own, from memory:
// the kernel asks security.capability before every write(2) and ls -l
// asks security.selinux of every file. Outside the user namespace the
// answer is ENOTSUP (Latus keeps no such attributes; Setxattr refuses
// them), which ls remembers for the whole mount instead of asking again
// per file; in it, ENODATA.
func otherXattr(attr string) syscall.Errno {
	if strings.HasPrefix(attr, "user.") {
		return syscall.ENODATA
	}
	return syscall.ENOTSUP
}

func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	list := xattrState + "\x00" + xattrPinned + "\x00" + xattrCopies + "\x00"
	if len(dest) == 0 {
		return uint32(len(list)), 0
	}
	if len(dest) < len(list) {
		return uint32(len(list)), syscall.ERANGE
	}
	return uint32(copy(dest, list)), 0
}

// Setxattr of user.latus.pinned pins ("1") or unpins ("0") a file's chunks.
func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	if attr != xattrPinned {
		return syscall.ENOTSUP
	}
	v, err := n.version()
	if err != nil {
		return n.errno(n.path(), err)
	}
	on := string(data) == "1"
	if !on && string(data) != "0" {
		return syscall.EINVAL
	}
	if n.fsys.pin == nil {
		return syscall.ENOTSUP
	}
	return n.errno(n.path(), n.fsys.pin(v, on))
}

func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	if attr == xattrPinned {
		return n.Setxattr(ctx, attr, []byte("0"), 0)
	}
	return syscall.ENODATA
}

// localState says how much of a file this device holds.
func (f *FS) localState(ids []chunks.ID) (string, error) {
	have := 0
	for _, id := range ids {
		st, err := f.store.Status(id)
		if err != nil {
			return "", err
		}
		if st == chunks.Complete {
			have++
		}
	}
	switch {
	case have == len(ids):
		return "local", nil
	case have == 0:
		return "remote", nil
	}
	return "partial", nil
}

func (f *FS) pinnedState(ids []chunks.ID) (string, error) {
	if len(ids) == 0 {
		return "0", nil
	}
	for _, id := range ids {
		pins, err := f.store.Pins(id)
		if err != nil {
			return "", err
		}
		if pins == 0 {
			return "0", nil
		}
	}
	return "1", nil
}
