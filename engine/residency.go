package engine

import (
	"sync"
	"time"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

// Residency says how much of a file's content is stored on this device.
type Residency int

const (
	Local   Residency = iota // every chunk (a file without chunks, empty or inline, too)
	Partial                  // some chunks
	Remote                   // none: read from other devices
)

func (r Residency) String() string {
	switch r {
	case Local:
		return "local"
	case Partial:
		return "partial"
	case Remote:
		return "remote"
	}
	return "unknown"
}

// Residency says how much of v is stored here.
func (e *Engine) Residency(v meta.FileVersion) (Residency, error) {
	have := 0
	for _, r := range v.Chunks {
		st, err := e.store.Status(r.ID)
		if err != nil {
			return Remote, err
		}
		if st == chunks.Complete {
			have++
		}
	}
	switch {
	case have == len(v.Chunks):
		return Local, nil
	case have == 0:
		return Remote, nil
	}
	return Partial, nil
}

// Walk calls fn for every live file at or under p ("" is the root).
func (e *Engine) Walk(p string, fn func(meta.FileVersion)) error { return e.walk(p, fn) }

// unreplicated is Unreplicated's last count. Counting walks every live
// file, so it is done again only when something that may change a
// file's copies happened since (Engine.changed: commits, merges,
// replication, hand-offs, keeps, pins) or it is older than
// unreplicatedMaxAge, and then no more often than every
// unreplicatedSpacing times the last walk took: `latus status` polled
// during a long replication round costs a bounded share of a core.
type unreplicated struct {
	mu      sync.Mutex // guards the fields below; held while counting, so callers share one walk
	valid   bool
	changes uint64        // Engine.changes when counted
	want    int           // copies wanted when counted
	at      time.Time     // when the walk ended
	took    time.Duration // how long it took
	n       int
}

const (
	unreplicatedMaxAge  = 30 * time.Second
	unreplicatedSpacing = 5
)

// changed notes that some file's copies may have changed.
func (e *Engine) changed() { e.changes.Add(1) }

// Unreplicated counts the live files that fewer devices are known to keep
// than they should: Replicas, or every device online now when there are
// fewer. A local-only device counts none.
func (e *Engine) Unreplicated() (int, error) {
	net := e.network()
	if net == nil {
		return 0, nil
	}
	want := min(e.replicas, 1+len(e.online(net)))
	u := &e.unrepl
	u.mu.Lock()
	defer u.mu.Unlock()
	changes := e.changes.Load()
	if u.valid && u.want == want {
		age := time.Since(u.at)
		if u.changes == changes && age < unreplicatedMaxAge {
			return u.n, nil
		}
		if age < unreplicatedSpacing*u.took {
			return u.n, nil
		}
	}
	start := time.Now()
	n := 0
	err := e.meta.LiveFiles(func(v meta.FileVersion) error {
		if e.Copies(v) < want {
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	u.valid, u.changes, u.want, u.n = true, changes, want, n
	u.at = time.Now()
	u.took = u.at.Sub(start)
	return n, nil
}
