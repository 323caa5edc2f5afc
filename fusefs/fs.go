package fusefs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

// Kernel cache timeouts. Every change the kernel does not make itself
// (a remote merge, an import, a restore) is followed by Invalidate, so
// entries and attributes stay cached for minutes: a warm `ls -lR` or a
// stat costs no request. The timeout only bounds how long a missed
// invalidation would show stale attributes.
const (
	entryTimeout = 5 * time.Minute
	attrTimeout  = 5 * time.Minute
)

// Options configure an FS.
type Options struct {
	Meta       *meta.DB
	Store      *chunks.Store
	Fetcher    *chunks.Fetcher
	StagingDir string                                  // <state>/staging
	OnCommit   func([]meta.FileVersion)                // after each local commit; must not block
	Copies     func(meta.FileVersion) int              // devices known to keep all of a version's chunks (user.latus.copies); nil: unknown
	Pin        func(v meta.FileVersion, on bool) error // setting user.latus.pinned; nil: not supported
	Logger     *slog.Logger
	// Ignored paths live in LocalDir, never in the stores (ignore.go);
	// either unset: nothing is ignored.
	Ignored  func(p string, isDir bool) bool
	LocalDir string // <state>/local
	// CacheHeap is the live Go heap above which the coldest folders are
	// dropped from the kernel's cache, freeing their nodes
	// (kernelcache.go); 0: 160 MiB.
	CacheHeap int64
}

// MountOptions configure the kernel mount.
type MountOptions struct {
	AllowOther bool // allow_other + default_permissions
	Debug      bool
	FsName     string
}

// FS is the Latus filesystem.
type FS struct {
	meta      *meta.DB
	store     *chunks.Store
	fetcher   *chunks.Fetcher
	staging   string
	onCommit  func([]meta.FileVersion)
	copies    func(meta.FileVersion) int
	pin       func(meta.FileVersion, bool) error
	log       *slog.Logger
	root      *dirNode
	uid, gid  uint32
	local     *fs.LoopbackRoot // nil: nothing is ignored (ignore.go)
	ignored   func(string, bool) bool
	cacheHeap int64 // kernelcache.go

	mu     sync.Mutex                // guards staged
	staged map[*fs.Inode]*stagedFile // files open for writing, by inode

	mounted atomic.Bool // Mount succeeded: the kernel can be notified
	// gen counts Invalidate calls. An entry reply built from versions
	// read before Invalidate ran is built again (dir.go), or the kernel
	// could cache a stale entry after the notification for a whole
	// entryTimeout.
	gen     atomic.Uint64
	rescued atomic.Int64 // kept content waiting in <staging>/failed (rescue.go)
}

// New checks opts, prepares the staging directory and commits content
// kept from failed commits (rescue.go). Staging files left by a crash are
// removed: a close that returned has committed what it changed.
func New(opts Options) (*FS, error) {
	if opts.Meta == nil || opts.Store == nil || opts.Fetcher == nil {
		return nil, errors.New("fusefs: Meta, Store and Fetcher are required")
	}
	if opts.StagingDir == "" {
		return nil, errors.New("fusefs: no staging directory")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cleanStaging(opts.StagingDir); err != nil {
		return nil, fmt.Errorf("fusefs: clean staging dir: %w", err)
	}
	f := &FS{
		meta:      opts.Meta,
		store:     opts.Store,
		fetcher:   opts.Fetcher,
		staging:   opts.StagingDir,
		onCommit:  opts.OnCommit,
		copies:    opts.Copies,
		pin:       opts.Pin,
		log:       opts.Logger,
		uid:       uint32(os.Getuid()),
		gid:       uint32(os.Getgid()),
		staged:    make(map[*fs.Inode]*stagedFile),
		cacheHeap: opts.CacheHeap,
	}
	if f.cacheHeap <= 0 {
		f.cacheHeap = defaultCacheHeap
	}
	f.root = &dirNode{node: node{fsys: f}}
	f.rescued.Store(int64(len(f.listRescued())))
	if _, err := f.retryRescued(); err != nil {
		f.log.Error("content kept from failed commits is still not committed; it stays in "+filepath.Join(opts.StagingDir, failedDir), "err", err)
	}
	f.ignored = opts.Ignored
	if err := f.initLocal(opts.LocalDir); err != nil {
		return nil, fmt.Errorf("fusefs: local-only dir: %w", err)
	}
	return f, nil
}

// cleanStaging empties dir of staging files a crash left, keeping the
// content in the failed directory.
func cleanStaging(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, failedDir), 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Name() == failedDir {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	// A copy a crash interrupted before it was renamed into place.
	partial, _ := filepath.Glob(filepath.Join(dir, failedDir, ".tmp-*"))
	for _, p := range partial {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	return nil
}

// Mount mounts the filesystem on dir and returns once it is live.
func (f *FS) Mount(dir string, mo MountOptions) (*fuse.Server, error) {
	et, at := entryTimeout, attrTimeout
	neg := time.Duration(0) // a file another device creates must show at once
	opts := &fs.Options{
		EntryTimeout:    &et,
		AttrTimeout:     &at,
		NegativeTimeout: &neg,
		UID:             f.uid,
		GID:             f.gid,
		MountOptions: fuse.MountOptions{
			MaxWrite:   1 << 20,
			FsName:     mo.FsName,
			Name:       "latus",
			Debug:      mo.Debug,
			AllowOther: mo.AllowOther,
			// go-fuse's own messages (e.g. a splice falling back to a
			// copy) are debug detail for us.
			Logger: slog.NewLogLogger(f.log.Handler(), slog.LevelDebug),
			// O_TRUNC comes with the open instead of as a truncate after
			// it, so the open knows the old content is not needed.
			ExtraCapabilities: fuse.CAP_ATOMIC_O_TRUNC,
		},
	}
	if opts.FsName == "" {
		opts.FsName = "latus"
	}
	if mo.AllowOther {
		opts.MountOptions.Options = append(opts.MountOptions.Options, "default_permissions")
	}
	srv, err := fs.Mount(dir, f.root, opts)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	f.mounted.Store(true)
	raiseReadAhead(dir, f.log)
	done := make(chan struct{})
	go func() {
		srv.Wait()
		close(done)
	}()
	go f.trimLoop(done) // ends with the server
	return srv, nil
}

// raiseReadAhead lets the kernel read ahead 16 MiB on sequential reads
// instead of the 128 KiB default for FUSE. Best effort: it needs root.
func raiseReadAhead(dir string, log *slog.Logger) {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return
	}
	bdi := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unixMajor(st.Dev), unixMinor(st.Dev))
	if err := os.WriteFile(bdi, []byte("16384"), 0o644); err != nil {
		log.Debug("could not raise read-ahead", "file", bdi, "err", err)
	}
}

func unixMajor(dev uint64) uint64 { return (dev >> 8) & 0xfff }
func unixMinor(dev uint64) uint64 { return (dev & 0xff) | ((dev >> 12) & 0xfff00) }

// Flush commits every file open for writing (before unmount or exit) and
// content kept from failed commits.
func (f *FS) Flush() error {
	f.mu.Lock()
	var all []*stagedFile
	for _, st := range f.staged {
		all = append(all, st)
	}
	f.mu.Unlock()
	var errs []error
	for _, st := range all {
		if err := f.commitStaged(st); err != nil {
			errs = append(errs, err)
		}
	}
	// Kept content that still fails stays kept and logged: it must not
	// stop an unmount.
	vs, _ := f.retryRescued()
	if f.mounted.Load() {
		f.Invalidate(vs) // not a FUSE handler: safe to notify
	}
	return errors.Join(errs...)
}

// Invalidate drops the kernel's cached entries and pages of the paths a
// remote merge changed. Call it from the merging goroutine, never from a
// FUSE handler (see the package documentation).
func (f *FS) Invalidate(vs []meta.FileVersion) {
	if len(vs) == 0 {
		return
	}
	f.gen.Add(1)
	for _, v := range vs {
		for _, p := range []string{v.Path, v.From} {
			if p == "" {
				continue
			}
			parent, child := f.findInode(p)
			if parent != nil {
				parent.NotifyEntry(path.Base(p))
				parent.NotifyContent(0, 0) // the cached listing (FOPEN_CACHE_DIR)
			}
			if child != nil {
				child.NotifyContent(0, 0)
			}
		}
	}
}

// findInode walks the kernel-known inode tree to p, returning the parent
// and the node itself where the kernel knows them.
func (f *FS) findInode(p string) (parent, child *fs.Inode) {
	cur := f.root.EmbeddedInode()
	parts := strings.Split(p, "/")
	for i, name := range parts {
		next := cur.GetChild(name)
		if i == len(parts)-1 {
			return cur, next
		}
		if next == nil {
			return nil, nil
		}
		cur = next
	}
	return nil, nil
}

func (f *FS) committed(vs []meta.FileVersion) {
	if f.onCommit != nil && len(vs) > 0 {
		f.onCommit(vs)
	}
}

// commit records changes and tells the caller's hook.
func (f *FS) commit(changes ...meta.Change) ([]meta.FileVersion, error) {
	vs, err := f.meta.Commit(changes)
	if err != nil {
		return nil, err
	}
	f.committed(vs)
	return vs, nil
}

// sync makes every commit so far durable: the chunk store first, then
// meta (which also syncs the store before its batch when the daemon wires
// meta.Options.BeforeCommit; this keeps the order without that wiring).
func (f *FS) sync() error {
	if err := f.store.Sync(); err != nil {
		return err
	}
	return f.meta.Sync()
}

// OpenForWrite reports how many files are open for writing: staged
// content whose last close has not committed it yet.
func (f *FS) OpenForWrite() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.staged)
}
