//go:build simbugs

package simbug

import (
	"os"
	"sync/atomic"
)

// bug is the planted bug that is on; LATUS_SIMBUG at start.
var bug atomic.Value

func init() { bug.Store(os.Getenv("LATUS_SIMBUG")) }

// On reports whether the planted bug name is on.
func On(name string) bool { return bug.Load().(string) == name }

// Set turns the planted bug name on ("" = none), so the self-test can run
// the seed that caught a bug again without it.
func Set(name string) { bug.Store(name) }
