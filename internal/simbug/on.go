//go:build simbugs

package simbug

import "os"

// bug is read once: the simulator's self-test sets it per process.
var bug = os.Getenv("LATUS_SIMBUG")

// On reports whether the planted bug name is on (LATUS_SIMBUG).
func On(name string) bool { return bug == name }
