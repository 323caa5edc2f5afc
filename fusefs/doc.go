// Package fusefs serves Latus's history store and chunk store as a FUSE
// filesystem with go-fuse's node API.
//
// # Paths and attributes
//
// A node knows nothing but its place in the go-fuse inode tree: its path
// is derived with Inode.Path, so a rename is a meta commit plus the tree
// move go-fuse does anyway. Attributes come from meta.Lookup; a file open
// for writing reports its staging file's size. An open directory handle
// (dirHandle) reads the listing once with meta.List and answers
// READDIRPLUS's per-entry lookups from it, so `ls -l` of a directory is
// one meta read. Extended attributes other than user.latus.* are answered
// from memory: ENOTSUP outside the user namespace (ls -l then stops asking
// for security.selinux and ACLs per file), ENODATA in it.
//
// # Reads and writes
//
// Reads map (offset, length) to the chunk refs they touch (offsets.go) and
// read only those, through chunks.Fetcher, which fetches a missing chunk on
// first access. Opening for write stages the file (staging.go): a local
// file filled only when a change needs the old bytes, so O_TRUNC and a
// truncate to 0 fetch nothing. Every close(2) after a change (write,
// truncate, fallocate, copy_file_range, mmap pages the kernel writes back
// before FLUSH) chunks it with FastCDC, stores the chunks and commits a new
// version: close-to-open. Content whose last commit fails is kept in the
// staging directory's failed/ and committed again later (rescue.go).
//
// # Kernel caching and invalidation
//
// Entries and attributes are cached by the kernel for minutes and file
// pages are kept across opens (FOPEN_KEEP_CACHE) while a file's content hash
// is the one the kernel last saw; negative entries are not cached. Every
// change the kernel did not make itself (a remote merge, an import, a
// restore from the trash or history) is followed by Invalidate, which
// tells the kernel with NotifyEntry and NotifyContent. A lookup racing
// with it could hand the kernel an entry read before the change, which it
// would then keep for minutes: Invalidate bumps a generation first, and an
// entry reply built from versions read before the bump is built again
// (the kernel itself drops attribute replies older than a notification).
// go-fuse documents
// that a notification sent from inside a FUSE request handler, or while
// holding a lock a handler needs, can deadlock the kernel: Invalidate must
// be called from the goroutine that applies a merge, never from a handler,
// and it takes no lock of this package while notifying.
package fusefs
