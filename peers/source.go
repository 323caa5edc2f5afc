package peers

import (
	"context"
	"errors"
	"fmt"

	"github.com/uberan/latus/chunks"
)

// deviceSource is a chunks.Source backed by one online device, over the
// data channel to it (whichever transport carries that).
type deviceSource struct {
	s *Swarm
	p *peer
}

func (d *deviceSource) Name() string { return d.p.device }

// Fetch returns chunk id as it travelled, checked once by chunks.Verify: a
// device that serves anything else gets an error wrapping
// chunks.ErrCorrupt and a mark against it, so the fetcher goes elsewhere.
func (d *deviceSource) Fetch(ctx context.Context, id chunks.ID) (chunks.Verified, error) {
	s, p := d.s, d.p
	if p.ctx.Err() != nil {
		return chunks.Verified{}, fmt.Errorf("fetch chunk %s from %s: %w", id.Short(), p.device, ErrOffline)
	}
	codec, stored, err := s.fetchChunk(ctx, p, id)
	if err != nil {
		if !errors.Is(err, ErrNotFound) && ctx.Err() == nil {
			p.failed.Add(1)
		}
		return chunks.Verified{}, fmt.Errorf("fetch chunk %s from %s: %w", id.Short(), p.device, err)
	}
	v, err := chunks.Verify(id, codec, stored)
	if err != nil {
		p.failed.Add(1)
		s.log.Warn("fetch: peer served bad bytes", "peer", p.device, "chunk", id.Short(), "err", err)
		return chunks.Verified{}, fmt.Errorf("fetch chunk %s from %s: %w", id.Short(), p.device, err)
	}
	p.served.Add(1)
	p.recv.add(len(stored))
	return v, nil
}

func (s *Swarm) fetchChunk(ctx context.Context, p *peer, id chunks.ID) (chunks.Codec, []byte, error) {
	dc, err := s.dataConnFor(ctx, p)
	if err != nil {
		return 0, nil, err
	}
	return dc.get(ctx, id)
}
