package engine

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uberan/latus/chunks"
)

// underReplicated returns the chunks kept here that fewer than Replicas
// devices reachable now keep, coldest first, with Holders cut down to
// those devices. A holder that is offline is not counted: it may be gone
// for good (a lost device never says so), and a copy too many is cheaper
// than a chunk whose last keepers are all gone. Without a network every
// known holder counts.
func (e *Engine) underReplicated() ([]chunks.Info, error) {
	want := e.replicas - 1
	var online []string
	net := e.network()
	if net != nil {
		online = e.online(net)
	}
	ins, err := e.store.Custodied(func(in chunks.Info) bool {
		if net != nil {
			in.Holders = slices.DeleteFunc(in.Holders, func(h string) bool { return !slices.Contains(online, h) })
		}
		return len(in.Holders) < want
	})
	if net != nil {
		for i := range ins {
			ins[i].Holders = slices.DeleteFunc(ins[i].Holders, func(h string) bool { return !slices.Contains(online, h) })
		}
	}
	return ins, err
}

func (e *Engine) replicateLoop() {
	defer e.wg.Done()
	retry := time.NewTimer(e.retry)
	defer retry.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-e.kickCh:
		case <-retry.C:
		}
		more := e.replicate(e.ctx)
		if !retry.Stop() {
			select {
			case <-retry.C:
			default:
			}
		}
		if more {
			retry.Reset(e.retry)
		}
	}
}

// keepsInFlight is how many keep requests replication has outstanding
// with one device by default: the receiver fetches one batch while it
// proves another.
const keepsInFlight = 3

// ReplicateOnce runs one replication round now, in the caller's
// goroutine, and reports whether work was left undone. The background
// loop Start runs calls the same round; a simulator that never starts the
// engine calls this instead.
func (e *Engine) ReplicateOnce(ctx context.Context) (more bool) { return e.replicate(ctx) }

// replicate runs one round: every under-replicated chunk is offered to
// online devices that do not keep it yet, until it has its copies or no
// device takes it. It reports whether work was left undone.
func (e *Engine) replicate(ctx context.Context) (more bool) {
	defer e.changed()
	net := e.network()
	if net == nil {
		return false
	}
	e.reprove(ctx, net)
	need, err := e.underReplicated()
	if err != nil || len(need) == 0 {
		return false
	}
	online := e.online(net)
	slices.Sort(online)
	r := &round{e: e, net: net, placed: map[chunks.ID]int{}}
	for _, dev := range online {
		if ctx.Err() != nil {
			return true
		}
		if e.skipFull(dev) {
			more = true
			continue
		}
		if !r.offer(ctx, dev, need) {
			more = true
		}
	}
	for _, in := range need {
		if len(in.Holders)+r.placed[in.ID] < e.replicas-1 && len(online) > len(in.Holders) {
			more = true
		}
	}
	return more
}

// round is one replication round's progress.
type round struct {
	e   *Engine
	net Network

	mu     sync.Mutex        // guards placed
	placed map[chunks.ID]int // devices that took each chunk this round
}

// offer sends dev every chunk of need it lacks that still wants a copy,
// in batches, a few at once. It reports false when dev refused or failed.
func (r *round) offer(ctx context.Context, dev string, need []chunks.Info) bool {
	var (
		wg    sync.WaitGroup
		sem   = make(chan struct{}, r.e.inFlight)
		ok    atomic.Bool
		batch []chunks.Info
		bytes int64
	)
	ok.Store(true)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		b := batch
		batch, bytes = nil, 0
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if !r.place(ctx, dev, b) {
				ok.Store(false)
			}
		}()
	}
	for _, in := range need {
		if !ok.Load() {
			break
		}
		r.mu.Lock()
		enough := len(in.Holders)+r.placed[in.ID] >= r.e.replicas-1
		r.mu.Unlock()
		if enough || slices.Contains(in.Holders, dev) {
			continue
		}
		batch = append(batch, in)
		bytes += in.Stored
		if len(batch) == MaxKeepChunks || bytes >= maxKeepBytes {
			flush()
		}
	}
	flush()
	wg.Wait()
	return ok.Load()
}

// place asks dev to keep batch and records the devices that proved it.
// It reports false when dev should not be asked again this round.
func (r *round) place(ctx context.Context, dev string, batch []chunks.Info) bool {
	e := r.e
	ids := make([]KeepChunk, len(batch))
	for i, in := range batch {
		ids[i] = KeepChunk{ID: in.ID, Size: in.Stored}
	}
	ok, refused, err := e.ask(ctx, r.net, dev, false, ids)
	if err != nil {
		e.log.Debug("replicate: keep request failed", "device", dev, "chunks", len(ids), "err", err)
		return false
	}
	if e.isRemoved(dev) {
		return false // removed while the request ran: its proofs count for nothing
	}
	for _, id := range ok {
		if err := e.store.AddHolder(id, dev); err != nil {
			e.log.Warn("replicate: recording a keeper", "chunk", id.Short(), "device", dev, "err", err)
			continue
		}
		r.mu.Lock()
		r.placed[id]++
		r.mu.Unlock()
		e.stats.replicated.Add(1)
	}
	if e.isRemoved(dev) { // removed while the holders were recorded
		for _, id := range ok {
			e.store.RemoveHolder(id, dev)
		}
		return false
	}
	full := false
	for _, code := range refused {
		e.stats.refused.Add(1)
		if code == KeepFull {
			full = true
		}
	}
	if len(ok) > 0 {
		e.log.Debug("replicate: chunks kept by another device", "device", dev, "chunks", len(ok), "refused", len(refused))
	}
	if full {
		e.markFull(dev)
		return false
	}
	return true
}

// reprove asks every device that came online since the last round to
// prove again, with a fresh nonce, that it keeps the chunks this device
// counts it as keeping (a keep request without release: a device that
// lost them fetches and keeps them again). A device that answers without
// a proof for a chunk is no longer counted as its holder, so the round
// that follows places the copy elsewhere. A device that does not answer
// is asked again next round.
func (e *Engine) reprove(ctx context.Context, net Network) {
	e.mu.Lock()
	devs := make([]string, 0, len(e.reverify))
	for d := range e.reverify {
		devs = append(devs, d)
	}
	clear(e.reverify)
	e.mu.Unlock()
	slices.Sort(devs)
	online := e.online(net)
	for _, dev := range devs {
		if !slices.Contains(online, dev) {
			continue // asked when it comes online again
		}
		held, err := e.store.Custodied(func(in chunks.Info) bool { return slices.Contains(in.Holders, dev) })
		if err != nil {
			continue
		}
		failed := false
		for i := 0; i < len(held) && !failed; i += MaxKeepChunks {
			batch := held[i:min(len(held), i+MaxKeepChunks)]
			ks := make([]KeepChunk, len(batch))
			for j, in := range batch {
				ks[j] = KeepChunk{ID: in.ID, Size: in.Stored}
			}
			_, refused, err := e.ask(ctx, net, dev, false, ks)
			if err != nil {
				failed = true
				break
			}
			for id := range refused {
				if err := e.store.RemoveHolder(id, dev); err != nil {
					e.log.Warn("reprove: forgetting a holder that could not prove", "chunk", id.Short(), "device", dev, "err", err)
				}
			}
		}
		if failed {
			e.mu.Lock()
			e.reverify[dev] = true
			e.mu.Unlock()
		}
	}
}

func (e *Engine) markFull(dev string) {
	e.mu.Lock()
	e.full[dev] = time.Now().Add(e.retry * 4)
	e.mu.Unlock()
}

func (e *Engine) skipFull(dev string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	until, ok := e.full[dev]
	if ok && time.Now().After(until) {
		delete(e.full, dev)
		return false
	}
	return ok
}

// keepLoop fetches and keeps the chunks of merged versions (KeepAll).
func (e *Engine) keepLoop() {
	defer e.wg.Done()
	// Everything already known first: a device that just became a keeper
	// of everything catches up.
	var all []chunks.ID
	if err := e.meta.Refs(func(id chunks.ID) error { all = append(all, id); return nil }); err != nil {
		e.log.Warn("keep all: listing chunks", "err", err)
	}
	e.keepChunks(all)
	for {
		select {
		case <-e.ctx.Done():
			return
		case ids := <-e.keepCh:
			e.keepChunks(ids)
		}
	}
}

func (e *Engine) keepChunks(ids []chunks.ID) {
	if len(ids) == 0 {
		return
	}
	defer e.changed()
	if err := e.fetcher.FetchAll(e.ctx, ids, nil); err != nil && e.ctx.Err() == nil {
		e.log.Warn("keep all: fetching", "chunks", len(ids), "err", err)
	}
	for _, id := range ids {
		in, err := e.store.Stat(id)
		if err != nil || in.State != chunks.Complete || in.Custody {
			continue
		}
		// Nobody is named: the writer learns of this copy when it asks.
		if err := e.store.Keep(id, "", false); err != nil && e.ctx.Err() == nil {
			e.log.Debug("keep all: keeping", "chunk", id.Short(), "err", err)
		}
	}
}
