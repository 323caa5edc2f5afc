package meta

import (
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/uberan/latus/chunks"
)

// Kind is what a path is.
type Kind uint8

const (
	KindFile Kind = iota
	KindDir
	KindSymlink
	numKinds
)

func (k Kind) String() string {
	switch k {
	case KindFile:
		return "file"
	case KindDir:
		return "dir"
	case KindSymlink:
		return "symlink"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// ChangeKind is what a version did to its path.
type ChangeKind uint8

const (
	Created ChangeKind = iota
	Modified
	Deleted
	Renamed
	numChangeKinds
)

func (c ChangeKind) String() string {
	switch c {
	case Created:
		return "created"
	case Modified:
		return "modified"
	case Deleted:
		return "deleted"
	case Renamed:
		return "renamed"
	}
	return "ChangeKind(" + strconv.Itoa(int(c)) + ")"
}

// FileVersion is one state of one path. See the package documentation for
// how Origin, Seq and Vector order versions across devices.
type FileVersion struct {
	Path   string // slash-separated, relative, clean; "" is never a file
	Kind   Kind
	Mode   uint32 // permission bits only (0o7777)
	Size   int64  // bytes of a file; len(Target) for a symlink; 0 for a directory or a tombstone
	MTime  time.Time
	Chunks []chunks.Ref // a file's content, contiguous from offset 0, summing to Size
	Hash   chunks.ID    // BLAKE3 of the whole content (files); zero for dirs
	// Inline is the whole content of a small file (1 to InlineMax bytes),
	// kept in the record instead of as a chunk; Chunks is then empty. It
	// is on every device that has the version. Never modify it: versions
	// share it.
	Inline  []byte
	Target  string // symlink target
	Deleted bool   // a tombstone: the path was deleted (Kind is what it was)
	Change  ChangeKind
	From    string // previous path, for Renamed
	Origin  string // device that made this version
	Seq     uint64 // Origin's sequence number for it
	Vector  Vector
}

// InlineMax is the largest content kept inside its version record
// (FileVersion.Inline) rather than as a chunk. A chunk costs a file of its
// own (a 4 KiB block at least), an index entry in the chunk store and a
// fetch by every device that reads it; inline bytes cost two copies in
// meta.db (current and history) and travel with the index page. In bbolt's
// 4 KiB pages two records of up to about 1.8 KiB share a page, a larger
// one takes a page of its own in each copy: BenchmarkInlineCost measured
// 4,260 bytes of state per file of 1,536 bytes inline, 8,356 per file of
// 2,048 inline and about 5,300 per small file as a chunk. 1.5 KiB keeps
// inline cheaper than a chunk with room for a long path.
const InlineMax = 1536

// IsInline reports whether v's content is inside the record (Inline), so
// any device that has v has its bytes.
func (v FileVersion) IsInline() bool { return len(v.Inline) > 0 }

// Live reports whether v is a present file, directory or symlink rather
// than a tombstone.
func (v FileVersion) Live() bool { return !v.Deleted }

// Change is one local change for Commit.
type Change struct {
	Kind ChangeKind
	Path string
	From string // Renamed: old path (a directory renames its whole subtree)
	// File gives the new content for Created and Modified: Kind, Mode,
	// Size, MTime, Chunks, Hash and Target are taken from it. For Deleted
	// and Renamed only its MTime is used (zero = now); a rename keeps the
	// content of the version at From.
	File FileVersion
	// Fold, for Modified, replaces the path's current version instead of
	// making a new one when that version is still pending: made here by a
	// commit whose batch is not durable yet, so no other device has seen
	// it (batch.go). Otherwise the change makes a new version as usual.
	// The replaced version keeps its change kind, counter and vector: a
	// file created and then written is one "created" version, and tar's
	// chmod and utimens after the write do not make versions of their own.
	Fold bool
}

// Options configure Open.
type Options struct {
	Device string // this device's id (identity.Identity.Device); required
	Logger *slog.Logger
	// Now is the clock that counters and index positions follow (see
	// clock.go), and the mtime of versions this device makes without one
	// (a restore, a rename's tombstones); nil = time.Now. Tests and the
	// simulator pin it.
	Now func() time.Time
	// BeforeCommit runs before each batch of local commits becomes
	// durable: the chunk store makes the chunks they reference durable
	// (chunks.Store.Sync). An error keeps the batch pending.
	BeforeCommit func() error
	// Durable is called, outside every lock, after a batch of local
	// commits became durable: the versions are now in Since's pages.
	Durable func()
	// CommitDelay is how long a batch of local commits stays open before
	// it is made durable; 0 = DefaultCommitDelay.
	CommitDelay time.Duration
}

// MergeResult tells what a Merge changed.
type MergeResult struct {
	// Applied lists the versions that changed the live tree, conflict
	// copies and re-created parent directories included, in the order they
	// were applied (for kernel cache invalidation).
	Applied []FileVersion
	// Conflicts lists the paths of the conflict copies made.
	Conflicts []string
}

// Stats summarises the live tree and the history.
type Stats struct {
	Files    int   // live files and symlinks
	Dirs     int   // live directories (the root not counted)
	Bytes    int64 // sum of the sizes of live files
	Versions int   // versions kept in history
}

// ImportProgress is reported by Import after each entry.
type ImportProgress struct {
	Files, Bytes, TotalFiles int64 // files (any kind) done, their bytes, files counted
	TotalBytes               int64
	Path                     string // the entry just done
}

// Putter stores a file's content as chunks; *chunks.Store implements it.
// Hold keeps the chunks put from collection until release is called, after
// the commit that references them (chunks.Store.Hold).
type Putter interface {
	PutStream(io.Reader) ([]chunks.Ref, chunks.ID, int64, error)
	Hold() (release func())
}
