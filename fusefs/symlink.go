package fusefs

import (
	"context"
	"syscall"
)

// symlinkNode is a symbolic link.
type symlinkNode struct{ node }

func (n *symlinkNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	v, err := n.version()
	if err != nil {
		return nil, n.errno(n.path(), err)
	}
	return []byte(v.Target), 0
}
