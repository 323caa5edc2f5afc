package sim

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	flagSeed    = flag.Uint64("sim.seed", 1, "first seed")
	flagSeeds   = flag.Int("sim.seeds", 120, "number of seeds, from sim.seed on")
	flagSteps   = flag.Int("sim.steps", 30, "steps per seed (make sim: 200)")
	flagDevices = flag.Int("sim.devices", 0, "devices at the start (0: 2–5 drawn from the seed)")
	flagKeep    = flag.String("sim.keep", "", "comma-separated step indexes to run (a shrunk replay)")
	flagWatch   = flag.String("sim.watch", "", "hex prefix of a chunk id whose custody the trace shows")
	flagGoOn    = flag.Bool("sim.continue", false, "run every seed and list the failing ones (no shrinking)")
	flagShrink  = flag.Int("sim.shrink", 400, "runs spent shrinking a failure")
)

func parseKeep(t *testing.T, s string) []int {
	if s == "" {
		return nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		i, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("-sim.keep: %v", err)
		}
		out = append(out, i)
	}
	return out
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// devicesFor draws 2–5 devices from the seed when not given.
func devicesFor(seed uint64) int {
	if *flagDevices > 0 {
		return *flagDevices
	}
	return 2 + int(seed%4)
}

// runSeeds runs n seeds from first and reports the first failure, shrunk,
// with the command that replays it.
func runSeeds(t *testing.T, first uint64, n int) (ops, steps int) {
	t.Helper()
	keep := parseKeep(t, *flagKeep)
	for seed := first; seed < first+uint64(n); seed++ {
		cfg := Config{Seed: seed, Steps: *flagSteps, Devices: devicesFor(seed), Keep: keep, Watch: *flagWatch}
		r := Run(t.Context(), cfg)
		ops += r.Ops
		steps += r.Steps
		if r.Failure == nil {
			continue
		}
		if *flagGoOn {
			t.Errorf("%v", r.Failure)
			continue
		}
		t.Logf("seed %d failed: %v; shrinking", seed, r.Failure)
		short, sr := Shrink(t.Context(), cfg, r, *flagShrink)
		t.Fatalf("%v\nshrunk to %d steps:\n%s\nreplay: go test ./internal/sim -run 'TestSim$' -sim.seed=%d -sim.seeds=1 -sim.steps=%d -sim.devices=%d -sim.keep=%s",
			sr.Failure, len(short), TraceString(sr.Trace), seed, cfg.Steps, cfg.Devices, joinInts(short))
	}
	return ops, steps
}

// TestSim runs a fixed set of seeds (make test) or those the flags ask for
// (make sim).
func TestSim(t *testing.T) {
	start := time.Now()
	ops, steps := runSeeds(t, *flagSeed, *flagSeeds)
	el := time.Since(start).Seconds()
	t.Logf("%d seeds, %d steps, %d device operations in %.1fs: %.1f seeds/s, %.0f device-ops/s",
		*flagSeeds, steps, ops, el, float64(*flagSeeds)/el, float64(ops)/el)
	fmt.Printf("sim: %d seeds in %.1fs: %.1f seeds/s, %.0f device-ops/s\n", *flagSeeds, el, float64(*flagSeeds)/el, float64(ops)/el)
}
