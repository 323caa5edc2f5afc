package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

// pruneEvery is how often a running daemon applies the retention policy
// (and collects chunks a crash may have leaked).
const pruneEvery = time.Hour

// pruner applies this device's retention policy to its history and
// collects the chunks left unreferenced, on a schedule, on demand (latus
// prune), and under cache pressure (chunks.Options.Relieve).
type pruner struct {
	db     *meta.DB
	store  *chunks.Store // set once the store is open, before any write
	policy meta.Policy
	log    *slog.Logger

	mu sync.Mutex // one policy run at a time

	byPolicy, byPressure atomic.Int64 // versions pruned since start, by reason
	last                 atomic.Pointer[pruneReport]
}

// pruneReport is the outcome of one run, and what /prune returns.
type pruneReport struct {
	DryRun   bool      `json:"dry_run"`
	At       time.Time `json:"at"`
	Versions int       `json:"versions"` // versions pruned (or that would be)
	Bytes    int64     `json:"bytes"`    // plain bytes of chunks only they referenced
	Chunks   int       `json:"chunks"`   // chunks collected (or that would be)
	Freed    int64     `json:"freed"`    // stored bytes collected (or that would be)
}

// markRefs is chunks.Options.Mark over db: every chunk a kept version
// references.
func markRefs(db *meta.DB) func(keep func(chunks.ID)) error {
	return func(keep func(chunks.ID)) error {
		return db.Refs(func(id chunks.ID) error { keep(id); return nil })
	}
}

// run prunes by policy and collects. A dry run changes nothing: its chunk
// count is what a collection would take now, before pruning.
func (p *pruner) run(dryRun bool) (pruneReport, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := pruneReport{DryRun: dryRun, At: time.Now()}
	res, err := p.db.Prune(p.policy, r.At, dryRun)
	if err != nil {
		return r, err
	}
	r.Versions, r.Bytes = res.Versions, res.Bytes
	c, err := p.store.Collect(dryRun)
	if err != nil {
		return r, err
	}
	r.Chunks, r.Freed = c.Chunks, c.Bytes
	if !dryRun {
		p.byPolicy.Add(int64(res.Versions))
		p.last.Store(&r)
		if r.Versions > 0 || r.Chunks > 0 {
			p.log.Info("retention: pruned old versions", "versions", r.Versions, "chunks", r.Chunks, "freed", r.Freed)
		}
	}
	return r, nil
}

// relieve is chunks.Options.Relieve: the cache is full, so the oldest
// versions that are not current go, about need bytes of them.
func (p *pruner) relieve(need int64) bool {
	res, err := p.db.PruneOldest(need, p.store.Stored)
	if err != nil {
		p.log.Error("cache full: pruning old versions failed", "err", err)
		return false
	}
	if res.Versions == 0 {
		return false
	}
	p.byPressure.Add(int64(res.Versions))
	p.log.Info("cache full: pruned the oldest versions", "versions", res.Versions, "need", need)
	return true
}

// loop runs the policy now and every pruneEvery until ctx ends.
func (p *pruner) loop(ctx context.Context) {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		if _, err := p.run(false); err != nil && ctx.Err() == nil {
			p.log.Error("retention", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// describe says what the policy keeps, for people.
func describePolicy(pol meta.Policy) string {
	return fmt.Sprintf("every version for %d days, then one a day until %d days, deleted files %d days",
		pol.KeepAll/day, pol.Daily/day, pol.Deleted/day)
}
