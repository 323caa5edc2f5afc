//go:build simbugs

package sim

import (
	"os"
	"testing"

	"github.com/uberan/latus/internal/simbug"
)

// TestSelftest runs with one bug planted (build tag simbugs, LATUS_SIMBUG
// names it; internal/simbug) and passes only when the simulator catches
// it within -sim.seeds seeds: a seed that fails with the bug and passes
// without it (so a real bug the seed happens to find does not count).
// make sim-selftest.
func TestSelftest(t *testing.T) {
	bug := os.Getenv("LATUS_SIMBUG")
	if bug == "" {
		t.Fatal("LATUS_SIMBUG names no planted bug")
	}
	defer simbug.Set(bug)
	for seed := *flagSeed; seed < *flagSeed+uint64(*flagSeeds); seed++ {
		cfg := Config{Seed: seed, Steps: *flagSteps, Devices: devicesFor(seed)}
		simbug.Set(bug)
		r := Run(t.Context(), cfg)
		if r.Failure == nil {
			continue
		}
		simbug.Set("")
		if clean := Run(t.Context(), cfg); clean.Failure != nil {
			t.Logf("seed %d fails without the planted bug too (not counted): %v", seed, clean.Failure)
			continue
		}
		t.Logf("planted bug %s caught by seed %d after %d seeds: %v", bug, seed, seed-*flagSeed+1, r.Failure)
		return
	}
	t.Fatalf("planted bug %s not caught in %d seeds", bug, *flagSeeds)
}
