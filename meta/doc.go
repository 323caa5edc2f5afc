// Package meta is Latus's history store: it records every version of every
// path of the synced folder, orders versions across devices with version
// vectors, and merges the versions other devices send into one live tree.
//
// # Versions
//
// A FileVersion describes one state of one path: its kind (file, directory,
// symlink), permission bits, size, modification time, the chunk refs that
// hold a file's bytes (see package chunks) or, for a file of at most
// InlineMax bytes, the bytes themselves (Inline: PutContent decides), the
// BLAKE3 of the whole content, a symlink's target, or a deletion (a tombstone, Deleted = true). Every
// version is stamped with the device that made it (Origin) and that device's
// sequence number for it (Seq). A device's sequence counter is global to the
// device and only grows, so (Origin, Seq) names one version. A new counter
// is max(highest counter of this device seen + 1, unix seconds): above
// every counter of this device written here or found in a merged vector,
// and never below the wall clock, so a state dir restored from an old copy
// still makes versions that dominate the ones it forgot (clock.go). A
// page naming a counter more than 2³² above the clock is refused.
//
// The store keeps, per path, the current version in the bucket "files"
// (tombstones included, so a deleted path still has a vector) and every
// version ever recorded in "history". History(path) lists them oldest first,
// and Restore(path, n) commits the content of the n-th as a new version.
//
// # Version vectors
//
// Each version carries a Vector: device → counter. A local change to a path
// sets this device's counter to the new sequence number in a copy of the
// previous version's vector, so a version's vector says which versions of
// that path it has seen. Comparing two vectors gives After (the first has
// seen everything the second has and more), Before, Equal, or Concurrent
// (each has seen something the other has not: two devices edited the same
// path without hearing of each other). Vectors are per path: counters of
// different paths are never compared.
//
// # Index positions
//
// Every version this device records, whether made here or merged from a
// peer, is appended to its index at the next position: max(last + 1, unix
// microseconds), so a restored index continues above the positions peers
// remember once the clock has passed them.
// Peers page through it with Since(pos, limit) and remember, per device, the
// highest position they merged (PeerPos), so a device that comes back
// resumes where it stopped. Because merged versions are indexed too, a
// version travels from A to C through B even if A and C never meet.
// Versions already recorded are recognised by the hash of their encoding and
// skipped, so receiving the same version twice changes nothing.
//
// # Merge and conflicts
//
// Merge applies a page of remote versions in one transaction. For each
// version and the current version of its path:
//
//   - remote dominates (After): it becomes the current version;
//   - local dominates or equal: the remote one is kept in history only;
//   - concurrent: the current version is recomputed from the frontier of
//     the path, the versions of its history that no other version dominates.
//     One of them is the winner, picked by a rule every device applies the
//     same way: a live version beats a deletion (so a concurrent
//     modification survives a delete: no edit is ever lost), a directory
//     beats a file or symlink (it may have children), then the newer MTime,
//     then the larger Origin, then the larger Seq. The current version
//     becomes the winner with the merge of all frontier vectors, so it
//     dominates every version it replaced.
//
// A frontier version whose content (kind, hash, target, deleted) equals the
// winner's is no conflict. Any other live loser is kept as a live file
// beside the winner at conflictName(path, loser.MTime, loser.Origin):
// name.sync-conflict-YYYYMMDD-HHMMSS-<device>.ext, in UTC. The conflict
// copy keeps the loser's Origin, Seq and Vector, so every device that sees
// the same conflict makes the identical copy, and copies exchanged later are
// recognised as the same version instead of conflicting again. Because the
// frontier depends only on the set of versions a device has seen, devices
// that have exchanged all their versions show the same live tree whatever
// the order they merged in.
//
// # Orphans
//
// A concurrent delete of a directory and a create inside it would leave a
// live path under a deleted (or replaced) parent. After each merge page,
// every ancestor of a live path is made a live directory again: a deleted
// or missing ancestor is re-created with a version derived from the child
// (its Origin and Seq, the ancestor's vector advanced to them), and a file
// in the way is first kept as a conflict copy.
//
// # Retention
//
// Prune removes the versions a Policy no longer keeps (every version for
// 30 days, then the newest of each day for a year, a deleted path's
// history 90 days after its deletion; a version's age counts from the
// MTime of the version that replaced it), and
// PruneOldest the oldest ones when the chunk cache is full. The current
// version of a path and the frontier of a conflict are never pruned.
// Pruning is local: peers are not told, a pruned version keeps its key in
// "seen" so a peer's page cannot bring it back, and Since skips index
// entries whose version is gone. Refs then names the chunks still needed.
//
// # Input checking
//
// Paths are relative, slash-separated and clean, with no "..", no NUL and
// no ".latus" first element (see ValidatePath). Merge checks every version
// of a page before changing anything and refuses the whole page when one is
// invalid, so a misbehaving peer cannot plant paths outside the tree.
// Decoding (FileVersion.UnmarshalBinary) is defensive against arbitrary
// bytes.
//
// # Durability
//
// meta.db is a bbolt file with synced commits. Callers store chunks (and
// fsync them) before committing versions that reference them.
package meta
