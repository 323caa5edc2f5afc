package fusefs

import (
	"context"
	"errors"
	"path"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/uberan/latus/meta"
)

// node is what every node kind shares: its place in the tree and the FS.
type node struct {
	fs.Inode
	fsys *FS
}

// path is the node's path in the store ("" for the root).
func (n *node) path() string { return n.Path(n.Root()) }

func (n *node) child(name string) string { return path.Join(n.path(), name) }

func (n *node) errno(p string, err error) syscall.Errno { return toErrno(n.fsys.log, p, err) }

// fillAttr turns a version into kernel attributes.
func (f *FS) fillAttr(v meta.FileVersion, out *fuse.Attr) {
	out.Mode = kindBits(v.Kind) | v.Mode
	out.Size = uint64(v.Size)
	out.Blocks = (out.Size + 511) / 512
	out.Blksize = 1 << 20
	out.Nlink = 1
	if v.Kind == meta.KindDir {
		out.Nlink = 2
	}
	out.Owner = fuse.Owner{Uid: f.uid, Gid: f.gid}
	out.SetTimes(nil, &v.MTime, &v.MTime)
}

func kindBits(k meta.Kind) uint32 {
	switch k {
	case meta.KindDir:
		return syscall.S_IFDIR
	case meta.KindSymlink:
		return syscall.S_IFLNK
	}
	return syscall.S_IFREG
}

// newChild makes the inode for a version found under n.
func (n *node) newChild(ctx context.Context, v meta.FileVersion) *fs.Inode {
	var emb fs.InodeEmbedder
	switch v.Kind {
	case meta.KindDir:
		emb = &dirNode{node: node{fsys: n.fsys}}
	case meta.KindSymlink:
		emb = &symlinkNode{node{fsys: n.fsys}}
	default:
		emb = &fileNode{node: node{fsys: n.fsys}}
	}
	return n.NewInode(ctx, emb, fs.StableAttr{Mode: kindBits(v.Kind)})
}

// Getattr reports the version's attributes (a root with no version is an
// empty directory).
func (n *node) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	v, err := n.version()
	if h, ok := fh.(*handle); ok && errors.Is(err, meta.ErrNotFound) {
		// fstat of an open file whose path was deleted or replaced: the
		// version it opened.
		v, err = h.version(), nil
		defer func() { out.Nlink = 0 }()
	}
	if err != nil {
		return n.errno(n.path(), err)
	}
	n.fsys.fillAttr(v, &out.Attr)
	if st := n.fsys.stagedOf(n.EmbeddedInode()); st != nil {
		if size, err := st.size(); err == nil {
			out.Size = uint64(size)
			out.Blocks = (out.Size + 511) / 512
		}
	}
	out.SetTimeout(attrTimeout)
	return 0
}

func (n *node) version() (meta.FileVersion, error) {
	p := n.path()
	if p == "" {
		return meta.FileVersion{Kind: meta.KindDir, Mode: 0o755}, nil
	}
	return n.fsys.meta.Lookup(p)
}

// setattr applies chmod and utimens as one new version, or folds them into
// the current version while that is still pending (meta.Change.Fold):
// tar's chmod and utimens right after it wrote a file do not make
// versions of their own.
func (n *node) setattr(in *fuse.SetAttrIn) error {
	mode, hasMode := in.GetMode()
	mtime, hasMtime := in.GetMTime()
	if !hasMode && !hasMtime {
		return nil
	}
	p := n.path()
	if p == "" {
		return nil // the root's attributes are fixed
	}
	v, err := n.fsys.meta.Lookup(p)
	if err != nil {
		return err
	}
	if hasMode {
		v.Mode = mode & 0o7777
	}
	if hasMtime {
		v.MTime = mtime
		if st := n.fsys.stagedOf(n.EmbeddedInode()); st != nil {
			st.setMTime(mtime)
		}
	} else {
		v.MTime = time.Now()
	}
	_, err = n.fsys.commit(meta.Change{Kind: meta.Modified, Path: p, File: v, Fold: true})
	return err
}

// Setattr handles chmod and utimens; files override it for truncate.
func (n *node) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if err := n.setattr(in); err != nil {
		return n.errno(n.path(), err)
	}
	return n.Getattr(ctx, fh, out)
}
