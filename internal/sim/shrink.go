package sim

import "context"

// Shrink looks for a shorter list of steps that still fails the same way
// (the same Class of failure), by removing
// runs of steps (halves, then quarters, … then single steps) while the
// run keeps failing. It gives up after budget runs and returns the
// shortest failing list found and its result.
func Shrink(ctx context.Context, cfg Config, failed Result, budget int) ([]int, Result) {
	keep := cfg.Keep
	if keep == nil {
		keep = make([]int, 0, failed.Steps)
		for i := range cfg.Steps {
			keep = append(keep, i)
		}
		// Steps after the failing one never ran.
		if f := failed.Failure; f != nil && f.Step >= 0 && f.Step+1 < len(keep) {
			keep = keep[:f.Step+1]
		}
	}
	best := failed
	runs := 0
	for n := len(keep) / 2; n >= 1 && runs < budget; {
		removed := false
		for start := 0; start < len(keep) && runs < budget; {
			try := make([]int, 0, len(keep)) // never nil: nil runs every step
			try = append(append(try, keep[:start]...), keep[min(len(keep), start+n):]...)
			c := cfg
			c.Keep = try
			runs++
			if r := Run(ctx, c); r.Failure != nil && r.Failure.Class() == failed.Failure.Class() {
				keep, best, removed = try, r, true
				continue // same start: the next run of steps slid into place
			}
			start += n
		}
		if !removed {
			n /= 2
		}
	}
	return keep, best
}
