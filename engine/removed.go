package engine

import (
	"slices"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

// SetRemoved tells the engine which devices were removed before it
// started (the registry of known devices): they count as keepers of
// nothing, not even of what they wrote.
func (e *Engine) SetRemoved(devices []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, d := range devices {
		e.removed[d] = true
	}
	e.changed()
}

func (e *Engine) isRemoved(device string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.removed[device]
}

// DeviceRemoved is the hook for a device removed from the account (latus
// devices remove, here or on another device): its custody claims are no
// longer trusted. It is forgotten as a holder of every chunk, and this
// device takes custody of the complete copies it has of what fewer than
// Replicas devices now keep — the chunks the removed device held, and
// those it wrote and was counted as keeping — so that replication places
// them again. Nothing in history changes: its versions stay.
//
// It returns at once; the records change in the background, and until
// they have the device is already counted as keeping nothing.
func (e *Engine) DeviceRemoved(device string) {
	e.SetRemoved([]string{device})
	if e.ctx.Err() != nil {
		return // closing: the next start takes it from the registry
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.forget(device)
	}()
}

func (e *Engine) forget(device string) {
	ids, err := e.store.ForgetHolder(device)
	if err != nil {
		e.log.Warn("forget a removed device's chunks", "peer", device, "err", err)
	}
	for _, id := range ids {
		e.keepIfShort(id)
	}
	err = e.walk("", func(v meta.FileVersion) {
		if v.Origin != device {
			return
		}
		for _, r := range v.Chunks {
			e.keepIfShort(r.ID)
		}
	})
	if err != nil {
		e.log.Warn("take over a removed device's files", "peer", device, "err", err)
	}
	e.kick()
}

// keepIfShort takes custody of a complete cached copy of id that fewer
// than Replicas devices keep.
func (e *Engine) keepIfShort(id chunks.ID) {
	in, err := e.store.Stat(id)
	if err != nil || in.State != chunks.Complete || in.Custody || len(in.Holders) >= e.replicas {
		return
	}
	if err := e.store.Keep(id, "", false); err != nil {
		e.log.Warn("keep a chunk a removed device held", "chunk", id.Short(), "err", err)
	}
}

// online is net.Online without removed devices (the network refuses them
// already; this keeps the engine's count right in between).
func (e *Engine) online(net Network) []string {
	devs := net.Online()
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.DeleteFunc(devs, func(d string) bool { return e.removed[d] })
}
