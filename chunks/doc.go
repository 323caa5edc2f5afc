// Package chunks is Latus's content-addressed chunk store: it keeps chunk
// bytes on disk and in memory under a byte cap, tracks each chunk's state,
// and fetches missing chunks from other devices through a Source.
//
// # Identity and chunking
//
// A chunk's ID is the BLAKE3-256 of its plain bytes. Files are cut with
// FastCDC (min 256 KiB, average 1 MiB, max 4 MiB), so an edit in the middle
// of a large file changes one or two chunks and identical data is stored
// once. A file version lists its chunks as Refs (ID, offset, size).
//
// # States and the fetch protocol
//
// A chunk is Missing, InProgress or Complete. A fetch runs
// Begin(id) → Token, then either WriteVerified(token, v) or Cancel(id, token).
// A fetched chunk is checked once, by Verify, which a Source calls: only
// Verify makes a Verified, and the store writes it in the form it
// travelled in (a zstd form is not compressed again). Tokens carry a
// process epoch stored in the index and bumped at every Open, so an
// InProgress state, kept in memory only, never outlives its process.
//
// # Storage
//
// Bytes live in one file per chunk, Dir/xx/<id>, written to a temporary
// file, fsynced and renamed; they are zstd-compressed only when that saves
// at least 10 %. The bbolt index (Dir/index.db) holds state, sizes, codec,
// last access, pins, custody and the devices known to keep each chunk; chunk bytes
// never go into bbolt. A memory LRU keeps recently read plain chunks.
//
// # Capacity and custody
//
// The store never holds more than Capacity stored bytes plus one maximum
// chunk. To make room it evicts, least recently used first, complete and
// unpinned chunks that are not in this device's custody: cached copies of
// chunks another device keeps. A chunk in custody (a local write, or a
// replica this device accepted) is never evicted; custody moves to another
// device only by a confirmed, proved hand-off (custody.go), so at every
// moment some device keeps every chunk it was given. When a write does not
// fit, Options.Relieve may make room (the engine hands cold chunks to
// their other holders and prunes history) and the write is tried once
// more; when nothing can be freed, Put and Write fail with ErrFull, which
// wraps ENOSPC, and store nothing. Last-access times are kept in memory and
// written to the index every 30 s and at Close, so a Read hit costs no
// index write.
//
// # Fetcher
//
// Fetcher is the downloading algorithm over Sources: a queue of IDs;
// complete ones are skipped, in-progress ones go to a second queue drained
// after the first, missing ones are fetched. Concurrent readers of one
// missing chunk share one fetch; a source that returns corrupt bytes or an
// error is skipped for the next one, and the first source tried rotates so
// load spreads over devices. ReadAhead (readahead.go) follows one
// reader's reads and, while they run sequentially, fetches the chunks after
// them in a window that grows as the kernel's read-ahead does. PutStream stores a few chunks at once: the
// store is bound by fsync latency (each chunk file, its directory and the
// index are synced before PutStream returns); its CPU work (FastCDC, a
// BLAKE3 per chunk and one of the whole content) runs on several cores.
//
// # Collection and cache pressure
//
// Collect removes complete chunks that no kept version references
// (Options.Mark, from meta) — those of pruned versions and those a crash
// leaked between PutStream and the commit — sparing pinned chunks, chunks
// fetched within a grace period, and chunks local writers put under Hold
// and have not committed yet (sweep.go). When a write does not fit even
// after eviction, Options.Relieve prunes the oldest history, the store
// collects and tries again (pressure.go): ErrFull only when no history is
// left to give way.
package chunks
