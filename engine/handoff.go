package engine

import (
	"context"
	"slices"
	"time"

	"github.com/uberan/latus/chunks"
)

// relieveTimeout bounds how long a write waits for other devices to take
// chunks over before it fails with ENOSPC.
const relieveTimeout = 20 * time.Second

// HandOff makes room for need stored bytes when the cap is full of chunks
// this device keeps: the coldest unpinned ones that another online device
// is known to keep are handed over to it, which makes them evictable
// copies here. It is chunks.Options.HandOff. Concurrent calls run one
// after another; each sees the room the previous one made.
func (e *Engine) HandOff(need int64) {
	net := e.network()
	if net == nil {
		return
	}
	e.handOff.Lock()
	defer e.handOff.Unlock()
	defer e.changed()
	online := e.online(net)
	if len(online) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(e.ctx, relieveTimeout)
	defer cancel()
	// Release a little more than asked, so the next writes fit too.
	goal := max(need, 4*chunks.MaxChunk)
	cands, err := e.store.Custodied(func(in chunks.Info) bool { return in.Pins == 0 && len(in.Holders) > 0 })
	if err != nil {
		return
	}
	byDev := map[string][]chunks.Info{}
	var freed int64
	for _, in := range cands {
		if freed >= goal {
			break
		}
		for _, h := range in.Holders {
			if slices.Contains(online, h) {
				byDev[h] = append(byDev[h], in)
				freed += in.Stored
				break
			}
		}
	}
	var released int64
	devs := make([]string, 0, len(byDev))
	for dev := range byDev {
		devs = append(devs, dev)
	}
	slices.Sort(devs) // one order on every run (the simulator replays it)
	for _, dev := range devs {
		ins := byDev[dev]
		for i := 0; i < len(ins); i += MaxKeepChunks {
			released += e.release(ctx, net, dev, ins[i:min(len(ins), i+MaxKeepChunks)])
		}
	}
	e.log.Info("cache full: handed chunks to other devices", "need", need, "released", released)
}

// release hands ins over to dev: each chunk whose proof checks out is let
// go here; the others stay kept. It returns the stored bytes let go.
func (e *Engine) release(ctx context.Context, net Network, dev string, ins []chunks.Info) int64 {
	var ids []KeepChunk
	sizes := map[chunks.ID]int64{}
	for _, in := range ins {
		if err := e.store.BeginRelease(in.ID); err != nil {
			continue
		}
		ids = append(ids, KeepChunk{ID: in.ID, Size: in.Stored})
		sizes[in.ID] = in.Stored
	}
	if len(ids) == 0 {
		return 0
	}
	ok, refused, err := e.ask(ctx, net, dev, true, ids)
	if err != nil {
		e.log.Debug("release: keep request failed", "device", dev, "err", err)
	}
	var freed int64
	for _, id := range ok {
		if err := e.store.EndRelease(id, dev, true); err != nil {
			e.log.Warn("release: giving custody up", "chunk", id.Short(), "err", err)
			continue
		}
		freed += sizes[id]
		e.stats.released.Add(1)
		delete(sizes, id)
	}
	for id := range sizes { // refused, failed or unanswered: still ours
		e.store.EndRelease(id, dev, false)
	}
	e.stats.refused.Add(int64(len(refused)))
	return freed
}

// Verify is chunks.Options.Verify: ids are chunks in custody here that no
// version kept here references. Each is handed to an online holder (a
// keep request with release): the holder proves with a fresh nonce that
// it keeps the chunk and forgets this device as a keeper, and only then
// does this device give its custody up. It returns the chunks given up. A
// holder that was lost, or restored from an older copy, cannot prove, so
// this device goes on keeping the chunk rather than trusting what it
// learned long ago; a holder that answers without the chunk fetches it
// and keeps it, which restores the copy.
func (e *Engine) Verify(ids []chunks.ID) []chunks.ID {
	net := e.network()
	if net == nil {
		return nil
	}
	defer e.changed()
	online := e.online(net)
	ctx, cancel := context.WithTimeout(e.ctx, relieveTimeout)
	defer cancel()
	byDev := map[string][]chunks.Info{}
	for _, id := range ids {
		in, err := e.store.Stat(id)
		if err != nil || !in.Custody || in.Pins > 0 {
			continue
		}
		for _, h := range in.Holders {
			if slices.Contains(online, h) {
				byDev[h] = append(byDev[h], in)
				break
			}
		}
	}
	devs := make([]string, 0, len(byDev))
	for dev := range byDev {
		devs = append(devs, dev)
	}
	slices.Sort(devs)
	var given []chunks.ID
	for _, dev := range devs {
		ins := byDev[dev]
		for i := 0; i < len(ins); i += MaxKeepChunks {
			batch := ins[i:min(len(ins), i+MaxKeepChunks)]
			e.release(ctx, net, dev, batch)
			for _, in := range batch {
				if st, err := e.store.Stat(in.ID); err == nil && !st.Custody {
					given = append(given, in.ID)
				}
			}
		}
	}
	return given
}
