package fusefs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/uberan/latus/meta"
)

// Ignored files (.latusignore, Options.Ignored) live in a local-only area
// (Options.LocalDir, <state>/local/<path>) instead of the stores: they work
// as usual in the mount, served by go-fuse's loopback node, but are never
// versioned and never sent. A directory's listing shows its entries from
// both; an entry in the stores hides a local one of the same name. The
// dirNode methods call in here when a name is ignored or not in the
// stores. Renaming an ignored regular file to a synced name (an editor
// saving through "x.tmp") commits its content; the kernel keeps the moved
// inode, so a localNode whose local file is gone and whose path is in the
// stores serves that version (adopted). Every other rename across the two
// sides gets EXDEV, and mv copies.

// localNode is an ignored file or folder.
type localNode struct{ fs.LoopbackNode }

var (
	_ = (fs.NodeGetxattrer)((*localNode)(nil))
	_ = (fs.NodeOpener)((*localNode)(nil))
	_ = (fs.NodeGetattrer)((*localNode)(nil))
	_ = (fs.NodeSetattrer)((*localNode)(nil))
)

// adopted returns the version a localNode now stands for, after its file
// was renamed into the stores.
func (n *localNode) adopted() (meta.FileVersion, *FS, bool) {
	f, ok := n.RootData.RootNode.(*dirNode)
	if !ok {
		return meta.FileVersion{}, nil, false
	}
	p := n.Path(n.Root())
	if _, ok := f.fsys.localStat(p); ok {
		return meta.FileVersion{}, nil, false
	}
	v, err := f.fsys.meta.Lookup(p)
	if err != nil || v.Kind != meta.KindFile {
		return meta.FileVersion{}, nil, false
	}
	return v, f.fsys, true
}

func (n *localNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if _, f, ok := n.adopted(); ok {
		p := n.Path(n.Root())
		fh, fl, err := f.openFile(n.EmbeddedInode(), p, flags, nil)
		if err != nil {
			return nil, 0, f.errnoOf(p, err)
		}
		return fh, fl, 0
	}
	return n.LoopbackNode.Open(ctx, flags)
}

func (n *localNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if v, f, ok := n.adopted(); ok {
		f.fillAttr(v, &out.Attr)
		if st := f.stagedOf(n.EmbeddedInode()); st != nil {
			if size, err := st.size(); err == nil {
				out.Size = uint64(size)
			}
		}
		return 0
	}
	return n.LoopbackNode.Getattr(ctx, fh, out)
}

func (n *localNode) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if _, f, ok := n.adopted(); ok {
		p := n.Path(n.Root())
		if size, ok := in.GetSize(); ok {
			if err := f.truncateFile(n.EmbeddedInode(), p, fh, int64(size)); err != nil {
				return f.errnoOf(p, err)
			}
		}
		return n.Getattr(ctx, fh, out)
	}
	return n.LoopbackNode.Setattr(ctx, fh, in, out)
}

// Getxattr answers user.latus.state with "ignored"; other attributes are
// the local file's.
func (n *localNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if attr != xattrState {
		return n.LoopbackNode.Getxattr(ctx, attr, dest)
	}
	const val = "ignored"
	if len(dest) == 0 {
		return uint32(len(val)), 0
	}
	if len(dest) < len(val) {
		return uint32(len(val)), syscall.ERANGE
	}
	return uint32(copy(dest, val)), 0
}

// initLocal prepares the local-only area; without one nothing is ignored.
func (f *FS) initLocal(dir string) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return err
	}
	f.local = &fs.LoopbackRoot{Path: dir, Dev: st.Dev, RootNode: f.root}
	f.local.NewNode = func(r *fs.LoopbackRoot, _ *fs.Inode, _ string, _ *syscall.Stat_t) fs.InodeEmbedder {
		return &localNode{fs.LoopbackNode{RootData: r}}
	}
	return nil
}

// isIgnored reports whether p stays local.
func (f *FS) isIgnored(p string, isDir bool) bool {
	return f.local != nil && f.ignored != nil && f.ignored(p, isDir)
}

func (f *FS) localPath(p string) string {
	return filepath.Join(f.local.Path, filepath.FromSlash(p))
}

// localStat stats p in the local-only area.
func (f *FS) localStat(p string) (syscall.Stat_t, bool) {
	var st syscall.Stat_t
	if f.local == nil || syscall.Lstat(f.localPath(p), &st) != nil {
		return st, false
	}
	return st, true
}

// localChild returns the inode of the local entry name under n.
func (n *dirNode) localChild(ctx context.Context, name string, st *syscall.Stat_t) *fs.Inode {
	mode := st.Mode & syscall.S_IFMT
	if ch := n.GetChild(name); ch != nil && ch.StableAttr().Mode == mode {
		if _, ok := ch.Operations().(*localNode); ok {
			return ch
		}
	}
	return n.NewInode(ctx, &localNode{fs.LoopbackNode{RootData: n.fsys.local}}, fs.StableAttr{Mode: mode, Ino: st.Ino, Gen: 1})
}

// lookupLocal finds name in the local-only area (after the stores said
// ENOENT).
func (n *dirNode) lookupLocal(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	st, ok := n.fsys.localStat(n.child(name))
	if !ok {
		return nil, syscall.ENOENT
	}
	out.Attr.FromStat(&st)
	return n.localChild(ctx, name, &st), 0
}

// localEntries adds the local-only entries of n to a listing.
func (n *dirNode) localEntries(entries []fuse.DirEntry) []fuse.DirEntry {
	if n.fsys.local == nil {
		return entries
	}
	ents, err := os.ReadDir(n.fsys.localPath(n.path()))
	if err != nil {
		return entries
	}
	have := make(map[string]bool, len(entries))
	for _, e := range entries {
		have[e.Name] = true
	}
	for _, e := range ents {
		if have[e.Name()] {
			continue
		}
		var st syscall.Stat_t
		if syscall.Lstat(filepath.Join(n.fsys.localPath(n.path()), e.Name()), &st) != nil {
			continue
		}
		entries = append(entries, fuse.DirEntry{Name: e.Name(), Mode: st.Mode & syscall.S_IFMT, Ino: st.Ino})
	}
	return entries
}

// createLocal creates an ignored file.
func (n *dirNode) createLocal(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	lp := n.fsys.localPath(n.child(name))
	if err := os.MkdirAll(filepath.Dir(lp), 0o700); err != nil {
		return nil, nil, 0, fs.ToErrno(err)
	}
	fd, err := syscall.Open(lp, int(flags)|os.O_CREATE, mode)
	if err != nil {
		return nil, nil, 0, fs.ToErrno(err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, nil, 0, fs.ToErrno(err)
	}
	out.Attr.FromStat(&st)
	return n.localChild(ctx, name, &st), fs.NewLoopbackFile(fd), 0, 0
}

// mkdirLocal creates an ignored folder.
func (n *dirNode) mkdirLocal(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	lp := n.fsys.localPath(n.child(name))
	if err := os.MkdirAll(filepath.Dir(lp), 0o700); err != nil {
		return nil, fs.ToErrno(err)
	}
	if err := os.Mkdir(lp, os.FileMode(mode&0o7777)); err != nil {
		return nil, fs.ToErrno(err)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(lp, &st); err != nil {
		return nil, fs.ToErrno(err)
	}
	out.Attr.FromStat(&st)
	return n.localChild(ctx, name, &st), 0
}

// removeLocal unlinks or rmdirs a local entry (after the stores said
// ENOENT).
func (n *dirNode) removeLocal(name string, dir bool) syscall.Errno {
	if _, ok := n.fsys.localStat(n.child(name)); !ok {
		return syscall.ENOENT
	}
	lp := n.fsys.localPath(n.child(name))
	if dir {
		return fs.ToErrno(syscall.Rmdir(lp))
	}
	return fs.ToErrno(syscall.Unlink(lp))
}

// renameLocal handles a rename with a local side: from a local entry, or
// to an ignored name. handled is false when neither side is local.
func (n *dirNode) renameLocal(from, to string) (handled bool, errno syscall.Errno) {
	if n.fsys.local == nil {
		return false, 0
	}
	src, srcLocal := n.fsys.localStat(from)
	if _, err := n.fsys.meta.Lookup(from); err == nil {
		srcLocal = false // the stores' entry is what the user sees
	}
	toIgnored := n.fsys.isIgnored(to, srcLocal && src.Mode&syscall.S_IFMT == syscall.S_IFDIR)
	switch {
	case !srcLocal && !toIgnored:
		return false, 0
	case srcLocal && toIgnored:
		if _, err := n.fsys.meta.Lookup(to); err == nil {
			return true, syscall.EXDEV // would hide a synced file
		}
		lt := n.fsys.localPath(to)
		if err := os.MkdirAll(filepath.Dir(lt), 0o700); err != nil {
			return true, fs.ToErrno(err)
		}
		return true, fs.ToErrno(os.Rename(n.fsys.localPath(from), lt))
	case srcLocal: // into the stores
		if src.Mode&syscall.S_IFMT != syscall.S_IFREG {
			return true, syscall.EXDEV
		}
		return true, n.fsys.errnoOf(to, n.fsys.adoptLocal(from, to, src))
	default:
		// Out of the stores: the kernel would keep the moved inode as a
		// synced file under an ignored name. EXDEV makes mv (and editors
		// keeping a backup, "x" → "x~") copy instead.
		return true, syscall.EXDEV
	}
}

func (f *FS) errnoOf(p string, err error) syscall.Errno { return toErrno(f.log, p, err) }

// adoptLocal commits the local file from as the synced file to, then
// removes the local one: an editor saving through "x.tmp" → "x".
func (f *FS) adoptLocal(from, to string, st syscall.Stat_t) error {
	lf, err := os.Open(f.localPath(from))
	if err != nil {
		return err
	}
	defer lf.Close()
	release := f.store.Hold()
	defer release()
	nv, err := f.putContent(lf, st.Mode&0o7777)
	if err != nil {
		return err
	}
	kind := meta.Created
	if cur, err := f.meta.Lookup(to); err == nil {
		if cur.Kind != meta.KindFile {
			return syscall.EISDIR
		}
		kind = meta.Modified
	} else if !errors.Is(err, meta.ErrNotFound) {
		return err
	}
	if _, err := f.commit(meta.Change{Kind: kind, Path: to, File: nv}); err != nil {
		return err
	}
	return os.Remove(f.localPath(from))
}
