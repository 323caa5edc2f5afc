//go:build !simbugs

// Package simbug plants known bugs in the real engine for the simulator's
// self-test (make sim-selftest): the simulator must catch each one. The
// bugs exist only in binaries built with the build tag simbugs; without it
// On is the constant false and the planted code is compiled out, so the
// shipped binary cannot reach it.
//
// With the tag, LATUS_SIMBUG names the one bug that is on:
//
//   - trust-keep: a keep answer is trusted without checking its proof of
//     possession (the old "have" bug);
//   - merge-ignores-vectors: a merged version replaces the current one
//     whatever the version vectors say;
//   - prune-current: retention prunes current versions like old ones.
package simbug

// On reports whether the planted bug name is on: never, in this build.
func On(name string) bool { return false }
