// Package engine decides what moves where between one person's devices:
// who keeps the last copy of every chunk, how many copies exist, and what
// happens after every local commit. Packages below it store (chunks, meta)
// and carry (peers); this one holds the policy.
//
// # Custody
//
// Every chunk referenced by a version this device wrote has at least one
// device that promised to keep it: its keeper, in custody of the chunk
// (chunks.Store marks it; it is never evicted there). A local write starts
// in the writer's custody. Custody is given up only by a hand-off: the
// releasing device asks another to take over (a keep request with
// release), the other takes custody and proves it holds the bytes by
// answering a fresh random nonce with a keyed BLAKE3 of them; only then
// does the releaser let go. While a device releases a chunk it refuses to
// take that chunk over, so two devices releasing one chunk to each other
// can never both let go. Claims are never trusted: a device that answers
// with a wrong proof, or not at all, keeps nothing of ours released.
//
// # Replicas
//
// Chunks in custody here that fewer than Replicas devices keep are placed
// on other online devices with room (a keep request without release: both
// keep). Replication runs when a local commit lands (Committed), when a
// device comes online (DeviceOnline) and a little later after a failure;
// what it must do is derived from the store each time, so it resumes after
// a restart with nothing saved of its own. A device accepts replicas only
// while its custody stays under a high-water mark of its cap, so a device
// short of room is not handed back what it just released. A device with
// KeepAll takes custody of every chunk of every version it learns of.
//
// # Pressure
//
// When a write does not fit under the cap and nothing is evictable, the
// store calls HandOff (after its own Relieve pruned what history it could): the coldest chunks in custody here that another
// device is known to keep are handed to it (releases), which makes them
// evictable copies. When no device can take them, the write fails with
// ENOSPC and nothing is lost.
//
// # Changing a policy
//
// Every rule above is one function: which chunks need copies
// (underReplicated), where they go (replicate), whether to accept a
// request (accept), and what to give up under pressure (HandOff). The
// network is an interface (Network), so a simulation drives the same code
// with delivery under its control.
package engine
