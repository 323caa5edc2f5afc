package sim

import (
	"context"
	"errors"
	"slices"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/engine"
	"github.com/uberan/latus/meta"
)

// errDropped is what a sender sees when the scheduler dropped its message
// or its answer.
var errDropped = errors.New("sim: message dropped")

// page is an index page in flight: versions from's index held after
// position pos, sent to to.
type page struct {
	to, from string
	epoch    uint64 // from's meta.Epoch when it served the page
	vs       []meta.FileVersion
	upTo     uint64
}

// connected reports whether a and b are both live and on the same side of
// every partition.
func (s *Sim) connected(a, b string) bool {
	if a == b || s.dev(a) == nil || s.dev(b) == nil {
		return false
	}
	return s.group[a] == s.group[b]
}

func (s *Sim) dev(name string) *device {
	for _, d := range s.devs {
		if d.name == name {
			return d
		}
	}
	return nil
}

// chance reports true with probability p, drawn from the current step's
// stream, and only while faults are on.
func (s *Sim) chance(p float64) bool {
	return s.faults && s.rng.Float64() < p
}

// simNet is one device's engine.Network.
type simNet struct {
	s *Sim
	d *device
}

func (n simNet) Online() []string {
	var out []string
	for _, o := range n.s.devs {
		if n.s.connected(n.d.name, o.name) {
			out = append(out, o.name)
		}
	}
	slices.Sort(out)
	return out
}

// Keep delivers req to device and returns its answers, unless the
// scheduler drops the request or the answer, delivers it twice, or forges
// an answer the device never gave.
func (n simNet) Keep(ctx context.Context, device string, req engine.KeepRequest) ([]engine.KeepAnswer, error) {
	s := n.s
	s.ops++
	if !s.connected(n.d.name, device) {
		return nil, errDropped
	}
	switch {
	case s.chance(0.05):
		return nil, errDropped
	case s.chance(0.04):
		// A corrupted or replayed answer: "kept", with a proof the device
		// never computed. Only the proof check stands between it and a
		// released chunk.
		out := make([]engine.KeepAnswer, len(req.Chunks))
		for i, c := range req.Chunks {
			out[i] = engine.KeepAnswer{ID: c.ID, Code: engine.KeepOK}
			for j := range out[i].Proof {
				out[i].Proof[j] = byte(s.rng.Uint32())
			}
		}
		return out, nil
	}
	to := s.dev(device)
	answers := to.eng.HandleKeep(ctx, n.d.name, req)
	if s.chance(0.05) {
		answers = to.eng.HandleKeep(ctx, n.d.name, req) // delivered twice
	}
	if s.chance(0.05) {
		return nil, errDropped // the device kept the chunks; the answer is lost
	}
	return answers, nil
}

// Notify does nothing: pulls are steps of their own.
func (simNet) Notify() {}

// sources are the chunk sources device d reaches now.
func (s *Sim) sources(d *device) []chunks.Source {
	var out []chunks.Source
	for _, o := range s.devs {
		if s.connected(d.name, o.name) {
			out = append(out, source{s, d.name, o.name})
		}
	}
	return out
}

// source fetches chunks from one device's store over the simulated
// network.
type source struct {
	s        *Sim
	from, to string
}

func (src source) Name() string { return src.to }

func (src source) Fetch(ctx context.Context, id chunks.ID) (chunks.Verified, error) {
	s := src.s
	s.ops++
	if !s.connected(src.from, src.to) || s.chance(0.05) {
		return chunks.Verified{}, errDropped
	}
	c, b, err := s.dev(src.to).store.ReadStored(id)
	if err != nil {
		return chunks.Verified{}, err
	}
	return chunks.Verify(id, c, b)
}

// pull has to ask from for its index after to's position: the page is
// queued, to be delivered by a later step (or dropped, or twice).
func (s *Sim) pull(to, from *device) error {
	e := from.meta.Epoch() // as its presence announces it
	pos, err := to.meta.PullFrom(from.name, e)
	if err != nil {
		return err
	}
	vs, next, err := from.meta.Since(pos, 0)
	if err != nil {
		return err
	}
	if next == pos {
		return nil
	}
	p := page{to: to.name, from: from.name, epoch: e.ID, vs: vs, upTo: next}
	if s.chance(0.05) {
		return nil
	}
	s.pages = append(s.pages, p)
	if s.chance(0.05) {
		s.pages = append(s.pages, p)
	}
	return nil
}

// deliver merges a queued page into its receiver, if both ends are still
// there and connected.
func (s *Sim) deliver(i int) error {
	p := s.pages[i]
	s.pages = slices.Delete(s.pages, i, i+1)
	if !s.connected(p.to, p.from) {
		return nil
	}
	to := s.dev(p.to)
	res, err := to.meta.MergeAt(p.from, p.epoch, p.vs, p.upTo)
	if err != nil {
		return err
	}
	to.eng.Merged(res)
	return nil
}

// syncPair pulls and merges from's whole index into to, at once.
func (s *Sim) syncPair(to, from *device) (changed bool, err error) {
	for {
		e := from.meta.Epoch()
		pos, err := to.meta.PullFrom(from.name, e)
		if err != nil {
			return changed, err
		}
		vs, next, err := from.meta.Since(pos, 0)
		if err != nil || next == pos {
			return changed, err
		}
		res, err := to.meta.MergeAt(from.name, e.ID, vs, next)
		if err != nil {
			return changed, err
		}
		to.eng.Merged(res)
		changed = true
	}
}
