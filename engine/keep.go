package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/internal/simbug"
)

// MaxKeepChunks bounds the chunks of one keep request; peers refuse larger
// ones.
const MaxKeepChunks = 64

// maxKeepBytes bounds the bytes one keep request may make the other device
// fetch, so a request ends well within a network timeout.
const maxKeepBytes = 64 << 20

// KeepRequest asks a device to take custody of chunks. With Release the
// asking device is handing its own custody over; without, both keep.
type KeepRequest struct {
	Release bool
	Nonce   chunks.Nonce // fresh for each request: the key of the proofs
	Chunks  []KeepChunk
}

// KeepChunk is one chunk of a KeepRequest.
type KeepChunk struct {
	ID   chunks.ID
	Size int64 // stored bytes, for the receiver's room check
}

// KeepCode is a device's answer for one chunk.
type KeepCode uint8

const (
	KeepOK      KeepCode = iota // kept; Proof proves the bytes are here
	KeepFull                    // no room for it
	KeepBusy                    // the device is releasing the chunk itself: try later
	KeepMissing                 // the device could not get the bytes
	KeepFailed                  // anything else
)

func (c KeepCode) String() string {
	switch c {
	case KeepOK:
		return "ok"
	case KeepFull:
		return "full"
	case KeepBusy:
		return "busy"
	case KeepMissing:
		return "missing"
	}
	return "failed"
}

// KeepAnswer is a device's answer for one chunk of a KeepRequest.
type KeepAnswer struct {
	ID    chunks.ID
	Code  KeepCode
	Proof chunks.Proof // when Code is KeepOK
}

// Network is how the engine reaches other devices; peers implements it
// over XMPP and the data channel, tests and the simulator in memory.
type Network interface {
	// Online returns the devices reachable now.
	Online() []string
	// Keep sends req to device and returns its answers, one per chunk.
	Keep(ctx context.Context, device string, req KeepRequest) ([]KeepAnswer, error)
	// Notify tells online devices that a local commit exists.
	Notify()
}

func newNonce() chunks.Nonce {
	var n chunks.Nonce
	rand.Read(n[:])
	return n
}

// highWater is the share of the cap that custody (and pins) may fill
// before this device refuses new replicas; releases from a device under
// pressure are still accepted up to the cap itself.
const highWater = 0.75

// HandleKeep answers a keep request from device from: it fetches the
// chunks it lacks (from any device, the asker included), takes custody
// and proves it. Each chunk is answered on its own.
func (e *Engine) HandleKeep(ctx context.Context, from string, req KeepRequest) []KeepAnswer {
	answers := make([]KeepAnswer, len(req.Chunks))
	if e.isRemoved(from) {
		// Its claims are not trusted: recording it as a keeper would count it again.
		for i, c := range req.Chunks {
			answers[i] = KeepAnswer{ID: c.ID, Code: KeepFailed}
		}
		return answers
	}
	var fetch []chunks.ID
	var room = e.store.Room()
	for i, c := range req.Chunks {
		answers[i].ID = c.ID
		in, err := e.store.Stat(c.ID)
		if err != nil {
			answers[i].Code = KeepFailed
			continue
		}
		if in.State == chunks.Complete && in.Custody {
			continue // already kept here: just prove it
		}
		if !e.accept(req.Release, room, c.Size) {
			answers[i].Code = KeepFull
			continue
		}
		room -= c.Size
		if in.State != chunks.Complete {
			fetch = append(fetch, c.ID)
		}
	}
	if len(fetch) > 0 {
		if err := e.fetcher.FetchAll(ctx, fetch, nil); err != nil {
			e.log.Debug("keep: fetching chunks to keep", "from", from, "chunks", len(fetch), "err", err)
		}
	}
	for i := range answers {
		a := &answers[i]
		if a.Code != KeepOK {
			continue
		}
		err := e.store.Keep(a.ID, from, req.Release)
		switch {
		case errors.Is(err, chunks.ErrReleasing):
			a.Code = KeepBusy
			continue
		case errors.Is(err, chunks.ErrNotFound):
			a.Code = KeepMissing
			continue
		case err != nil:
			e.log.Warn("keep: taking custody", "chunk", a.ID.Short(), "from", from, "err", err)
			a.Code = KeepFailed
			continue
		}
		if a.Proof, err = e.store.Prove(a.ID, req.Nonce); err != nil {
			// Kept (custody is set) but unproven: the asker keeps its own.
			a.Code = KeepFailed
		}
	}
	e.kick()
	return answers
}

// accept decides whether this device takes size more stored bytes into
// custody, given the room it has left.
func (e *Engine) accept(release bool, room, size int64) bool {
	u := e.store.Usage()
	if u.Capacity <= 0 {
		return true
	}
	limit := room // a release: up to the cap
	if !release && !e.keepAll {
		limit = room - int64(float64(u.Capacity)*(1-highWater))
	}
	return size <= limit
}

// ask sends one keep request to device and returns the chunks whose
// answers carried a valid proof, and what the other chunks were answered.
func (e *Engine) ask(ctx context.Context, net Network, device string, release bool, ids []KeepChunk) (ok []chunks.ID, refused map[chunks.ID]KeepCode, err error) {
	req := KeepRequest{Release: release, Nonce: newNonce(), Chunks: ids}
	answers, err := net.Keep(ctx, device, req)
	if err != nil {
		return nil, nil, fmt.Errorf("keep request to %s: %w", device, err)
	}
	asked := make(map[chunks.ID]bool, len(ids))
	for _, c := range ids {
		asked[c.ID] = true
	}
	refused = map[chunks.ID]KeepCode{}
	for _, a := range answers {
		if !asked[a.ID] {
			continue // never asked, or answered twice: ignored
		}
		delete(asked, a.ID)
		if a.Code != KeepOK {
			refused[a.ID] = a.Code
			continue
		}
		want, err := e.store.Prove(a.ID, req.Nonce)
		if simbug.On("trust-keep") {
			want, err = a.Proof, nil
		}
		if err != nil || want != a.Proof {
			e.log.Warn("keep: a device answered with a wrong proof of possession; not trusted with the chunk", "device", device, "chunk", a.ID.Short())
			e.stats.badProofs.Add(1)
			refused[a.ID] = KeepFailed
			continue
		}
		ok = append(ok, a.ID)
	}
	for id := range asked {
		refused[id] = KeepFailed // unanswered
	}
	return ok, refused, nil
}
