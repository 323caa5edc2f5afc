package meta

import (
	"fmt"
	"time"
)

// Counters and positions follow the wall clock as well as their own past,
// so a device whose state dir was restored from a copy (or whose counter
// a peer pushed ahead) never hands out a number lower than one already
// given out:
//
//   - a new local version's counter is max(last+1, unix seconds), where
//     last is the highest counter for this device ever seen, written here
//     or found in a merged version's vector (Syncthing's rule);
//   - a new index position is max(last+1, unix microseconds), so a
//     restored index continues above the positions peers remember.
//
// A restored copy is caught up by the wall clock for the edits made while
// the copy was away (they were made in the past), and by merging, which
// teaches it every counter the others saw.

// maxCounterAhead is how far above the wall clock (in seconds) a peer's
// counter may be. Counters are at least the wall clock in seconds and run
// ahead of it only when a device records more than one version a second
// (an import of a million files puts it a million ahead), so 2³² — a
// century of one version a second above the clock — never refuses a real
// counter. It refuses what would freeze a path (a counter near 2⁶⁴ that
// nothing can exceed), and keeps every counter this device adopts below
// about 2³³, far from overflow.
const maxCounterAhead = 1 << 32

// now is the clock of counters and positions: Options.Now or time.Now.
func (db *DB) now() time.Time {
	if db.clock != nil {
		return db.clock()
	}
	return time.Now()
}

// nextSeq gives out the counter of a new local version.
func (t *txn) nextSeq() uint64 {
	t.seq = max(t.seq+1, uint64(max(t.db.now().Unix(), 0)))
	return t.seq
}

// nextPos gives out the next index position.
func (t *txn) nextPos() uint64 {
	t.pos = max(t.pos+1, uint64(max(t.db.now().UnixMicro(), 0)))
	return t.pos
}

// adopt raises the local counter to the highest counter for this device
// in v's vector, so the next local version dominates every version of
// this device that v has seen.
func (t *txn) adopt(v FileVersion) {
	t.seq = max(t.seq, v.Vector[t.db.device])
}

// checkCounters refuses a version whose counters run further ahead of the
// wall clock than any device can honestly be.
func checkCounters(v FileVersion, now time.Time) error {
	limit := uint64(max(now.Unix(), 0)) + maxCounterAhead
	for d, c := range v.Vector {
		if c > limit {
			return fmt.Errorf("%w: %q: counter %d of device %s is more than 2^32 above the clock (%d)", ErrInvalidVersion, v.Path, c, d, now.Unix())
		}
	}
	return nil
}
