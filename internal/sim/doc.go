// Package sim runs the real sync engines of several devices in one
// process under one seeded scheduler, so that the rare interleavings that
// break custody hand-off, replication, retention and merging are found,
// and every failure replays from its seed.
//
// What is real: each device's meta.DB (merge, conflicts, retention, clock
// rule), chunks.Store (bbolt index and chunk files in a temporary
// directory, eviction, custody, collection, pressure relief), the Fetcher
// and the engine (replication rounds, hand-off with proofs of possession,
// pins). What is simulated: the network between devices (Network, the
// chunk Sources and index pulls), the wall clock of the meta stores,
// crashes, restores from old copies of a state dir, lost and new devices.
// FUSE is not involved: user operations call the same meta and chunk
// calls the mount makes.
//
// The scheduler is one math/rand/v2 PCG stream per run, from which a list
// of steps is drawn; each step has its own PCG stream (seed, step index),
// so a subset of the steps replays the same decisions: that is how a
// failing run is shrunk. Engines are never started: replication runs
// only when a step says so (engine.ReplicateOnce), one keep request at a
// time (Options.KeepsInFlight = 1), and fetches one at a time.
//
// Delivery: index pages are messages in a queue (sent by a pull step,
// delivered, reordered, duplicated or dropped by later steps). Keep
// requests and chunk fetches happen inside an engine call and are
// answered synchronously; the scheduler decides for each one whether it
// is dropped, answered, answered but the answer lost, delivered twice, or
// answered by a forged "kept" with a wrong proof (a corrupted or replayed
// answer). They are not reordered against other steps. A crash or a
// restore drops the pages in flight to and from the device, as its
// connections die with it.
//
// Invariants are in check.go.
package sim
