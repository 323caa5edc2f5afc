package fusefs

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/uberan/latus/meta"
)

// dirNode is a directory; the root is one too.
type dirNode struct {
	node
	used atomic.Int64 // unix nanoseconds of the last lookup or listing in it (kernelcache.go)
}

func (n *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.used.Store(time.Now().UnixNano())
	p := n.child(name)
	if errno := nameErrno(p, name); errno != 0 {
		return nil, errno
	}
	for try := 0; ; try++ {
		gen := n.fsys.gen.Load()
		v, err := n.fsys.meta.Lookup(p)
		if errors.Is(err, meta.ErrNotFound) {
			return n.lookupLocal(ctx, name, out) // ignore.go
		}
		if err != nil {
			return nil, n.errno(p, err)
		}
		ch := n.entry(ctx, name, v, out)
		if n.fsys.gen.Load() == gen || try == 2 {
			return ch, 0
		}
		// A merge landed while v was read: read again, or the reply
		// could cache what the merge's notification just dropped.
	}
}

// entry answers a lookup of name, whose version is v: the child's inode
// (the one the kernel knows if its kind is unchanged) and attributes.
func (n *dirNode) entry(ctx context.Context, name string, v meta.FileVersion, out *fuse.EntryOut) *fs.Inode {
	ch := n.GetChild(name)
	if ch == nil || ch.StableAttr().Mode != kindBits(v.Kind) {
		ch = n.newChild(ctx, v)
	}
	n.fsys.fillAttr(v, &out.Attr)
	if st := n.fsys.stagedOf(ch); st != nil {
		if size, err := st.size(); err == nil {
			out.Size = uint64(size)
			out.Blocks = (out.Size + 511) / 512
		}
	}
	out.SetEntryTimeout(entryTimeout)
	out.SetAttrTimeout(attrTimeout)
	return ch
}

// OpendirHandle lists the directory when it is opened. The listing is not
// cached by the kernel (no FOPEN_CACHE_DIR): with it, a listing cached
// before a remote merge was seen to survive NotifyContent on the directory
// (TestRandomThreeDevices), and a listing from bbolt is cheap. The handle
// answers READDIRPLUS's lookups from the same listing (dirHandle.Lookup).
func (n *dirNode) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	h, errno := n.list()
	if errno != 0 {
		return nil, 0, errno
	}
	return h, 0, 0
}

func (n *dirNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	h, errno := n.list()
	if errno != 0 {
		return nil, errno
	}
	return h, 0
}

// list reads the directory's entries in one meta.List: the versions in
// the stores, then the local-only entries (ignore.go).
func (n *dirNode) list() (*dirHandle, syscall.Errno) {
	n.used.Store(time.Now().UnixNano())
	p := n.path()
	gen := n.fsys.gen.Load()
	vs, err := n.fsys.meta.List(p)
	if err != nil {
		return nil, n.errno(p, err)
	}
	entries := make([]fuse.DirEntry, 0, len(vs))
	for _, v := range vs {
		entries = append(entries, fuse.DirEntry{Name: baseName(v.Path), Mode: kindBits(v.Kind)})
	}
	entries = n.localEntries(entries) // ignore.go
	return &dirHandle{dir: n, entries: entries, vs: vs, gen: gen}, 0
}

// dirHandle is an open directory: its listing, read once at open.
// READDIRPLUS asks for each entry's attributes right after reading it
// (go-fuse calls Lookup on the handle with the name Readdirent last
// returned), and they come from the listing's versions, so `ls -l` of a
// directory costs one meta read however many entries it has.
type dirHandle struct {
	dir     *dirNode
	entries []fuse.DirEntry
	vs      []meta.FileVersion // versions of entries[:len(vs)]; later entries are local-only
	next    int                // index of the entry Readdirent returns next
	gen     uint64             // FS.gen when vs was read
}

func (h *dirHandle) HasNext() bool { return h.next < len(h.entries) }

func (h *dirHandle) Next() (fuse.DirEntry, syscall.Errno) {
	e := h.entries[h.next]
	h.next++
	e.Off = uint64(h.next)
	return e, 0
}

func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if !h.HasNext() {
		return nil, 0
	}
	e, errno := h.Next()
	return &e, errno
}

func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if off > uint64(len(h.entries)) {
		return syscall.EINVAL
	}
	h.next = int(off)
	return 0
}

// Lookup answers READDIRPLUS for the entry Readdirent returned last from
// its version. Any other name (a replayed, interrupted read; a local-only
// entry), or any name once a merge has landed since the listing was read,
// is looked up as usual.
func (h *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	i := h.next - 1
	if i >= 0 && i < len(h.vs) && h.entries[i].Name == name && h.dir.fsys.gen.Load() == h.gen {
		return h.dir.entry(ctx, name, h.vs[i], out), 0
	}
	return h.dir.Lookup(ctx, name, out)
}

func (h *dirHandle) Releasedir(ctx context.Context, releaseFlags uint32) {}

func (h *dirHandle) Close() {}

func (n *dirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	p := n.child(name)
	if errno := nameErrno(p, name); errno != 0 {
		return nil, errno
	}
	if n.fsys.isIgnored(p, true) {
		return n.mkdirLocal(ctx, name, mode, out) // ignore.go
	}
	v := meta.FileVersion{Kind: meta.KindDir, Mode: mode & 0o7777, MTime: time.Now()}
	vs, err := n.fsys.commit(meta.Change{Kind: meta.Created, Path: p, File: v})
	if err != nil {
		return nil, n.errno(p, err)
	}
	n.fsys.fillAttr(vs[0], &out.Attr)
	return n.newChild(ctx, vs[0]), 0
}

func (n *dirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	p := n.child(name)
	v, err := n.fsys.meta.Lookup(p)
	if errors.Is(err, meta.ErrNotFound) {
		return n.removeLocal(name, true) // ignore.go
	}
	if err != nil {
		return n.errno(p, err)
	}
	if v.Kind != meta.KindDir {
		return syscall.ENOTDIR
	}
	_, err = n.fsys.commit(meta.Change{Kind: meta.Deleted, Path: p})
	return n.errno(p, err)
}

func (n *dirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	p := n.child(name)
	v, err := n.fsys.meta.Lookup(p)
	if errors.Is(err, meta.ErrNotFound) {
		return n.removeLocal(name, false) // ignore.go
	}
	if err != nil {
		return n.errno(p, err)
	}
	if v.Kind == meta.KindDir {
		return syscall.EISDIR
	}
	if _, err := n.fsys.commit(meta.Change{Kind: meta.Deleted, Path: p}); err != nil {
		return n.errno(p, err)
	}
	if ch := n.GetChild(name); ch != nil {
		n.fsys.unlinked(ch)
	}
	return 0
}

func (n *dirNode) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	from := n.child(name)
	to := newParent.EmbeddedInode().Path(n.Root())
	to = joinPath(to, newName)
	if errno := nameErrno(to, newName); errno != 0 {
		return errno
	}
	if flags&fs.RENAME_EXCHANGE != 0 {
		return syscall.ENOTSUP
	}
	if flags&renameNoReplace != 0 {
		if _, err := n.fsys.meta.Lookup(to); err == nil {
			return syscall.EEXIST
		}
	}
	if from == to {
		return 0
	}
	if handled, errno := n.renameLocal(from, to); handled { // ignore.go
		return errno
	}
	// The replaced target, if open for writing, must not come back when
	// its handle closes.
	target := newParent.EmbeddedInode().GetChild(newName)
	if _, err := n.fsys.commit(meta.Change{Kind: meta.Renamed, From: from, Path: to}); err != nil {
		return n.errno(from, err)
	}
	if target != nil {
		n.fsys.unlinked(target)
	}
	return 0
}

func (n *dirNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	p := n.child(name)
	if errno := nameErrno(p, name); errno != 0 {
		return nil, nil, 0, errno
	}
	if n.fsys.isIgnored(p, false) {
		// A synced file of that name keeps being synced.
		if _, err := n.fsys.meta.Lookup(p); errors.Is(err, meta.ErrNotFound) {
			return n.createLocal(ctx, name, flags, mode, out) // ignore.go
		}
	}
	v := meta.FileVersion{Kind: meta.KindFile, Mode: mode & 0o7777, MTime: time.Now()}
	vs, err := n.fsys.commit(meta.Change{Kind: meta.Created, Path: p, File: v})
	if errors.Is(err, meta.ErrExists) && flags&syscall.O_EXCL == 0 {
		// Another device's file arrived between the kernel's lookup and
		// this create: open(O_CREAT) without O_EXCL opens it.
		return n.openExisting(ctx, p, flags, out)
	}
	if err != nil {
		return nil, nil, 0, n.errno(p, err)
	}
	ch := n.newChild(ctx, vs[0])
	st, err := n.fsys.stage(ch, p, true)
	if err != nil {
		return nil, nil, 0, n.errno(p, err)
	}
	n.fsys.mu.Lock()
	fresh := st.opens == 1 // else another open of the name shares it: its commits are its own
	n.fsys.mu.Unlock()
	st.mu.Lock()
	st.created = fresh
	st.mu.Unlock()
	n.fsys.fillAttr(vs[0], &out.Attr)
	out.SetEntryTimeout(entryTimeout)
	out.SetAttrTimeout(attrTimeout)
	return ch, &handle{fsys: n.fsys, ino: ch, st: st, write: true}, 0, 0
}

// openExisting answers a create of a name that exists by opening it.
func (n *dirNode) openExisting(ctx context.Context, p string, flags uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	cur, err := n.fsys.meta.Lookup(p)
	if err != nil {
		return nil, nil, 0, n.errno(p, err)
	}
	if cur.Kind != meta.KindFile {
		return nil, nil, 0, syscall.EISDIR
	}
	ch := n.newChild(ctx, cur)
	fh, fl, err := n.fsys.openFile(ch, p, flags, nil)
	if err != nil {
		return nil, nil, 0, n.errno(p, err)
	}
	n.fsys.fillAttr(cur, &out.Attr)
	out.SetEntryTimeout(entryTimeout)
	out.SetAttrTimeout(attrTimeout)
	return ch, fh, fl, 0
}

func (n *dirNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	p := n.child(name)
	if errno := nameErrno(p, name); errno != 0 {
		return nil, errno
	}
	if len(target) > meta.MaxPath {
		return nil, syscall.ENAMETOOLONG
	}
	v := meta.FileVersion{Kind: meta.KindSymlink, Mode: 0o777, Size: int64(len(target)), Target: target, MTime: time.Now()}
	vs, err := n.fsys.commit(meta.Change{Kind: meta.Created, Path: p, File: v})
	if err != nil {
		return nil, n.errno(p, err)
	}
	n.fsys.fillAttr(vs[0], &out.Attr)
	return n.newChild(ctx, vs[0]), 0
}

// Statfs reports the chunk cache: its cap as the size, its use as used.
// With no cap it reports the staging directory's filesystem.
func (n *dirNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	var st syscall.Statfs_t
	if err := syscall.Statfs(n.fsys.staging, &st); err != nil {
		return fs.ToErrno(err)
	}
	out.FromStatfsT(&st)
	u := n.fsys.store.Usage()
	if u.Capacity > 0 {
		const bs = 4096
		out.Bsize = bs
		out.Frsize = bs
		out.Blocks = uint64(u.Capacity) / bs
		free := max(u.Capacity-u.Used, 0)
		out.Bfree = uint64(free) / bs
		out.Bavail = out.Bfree
	}
	out.NameLen = meta.MaxName
	return 0
}

// nameErrno refuses a name longer than NAME_MAX (255 bytes) or a path
// longer than meta.MaxPath with ENAMETOOLONG, as POSIX says, before meta
// would call it an invalid path (EINVAL).
func nameErrno(p, name string) syscall.Errno {
	if len(name) > meta.MaxName || len(p) > meta.MaxPath {
		return syscall.ENAMETOOLONG
	}
	return 0
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// renameNoReplace is renameat2's RENAME_NOREPLACE (go-fuse names only
// RENAME_EXCHANGE).
const renameNoReplace = 0x1
