package peers

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"mellium.im/xmpp/stanza"

	"github.com/uberan/latus/chunks"
)

// deviceSource is a chunks.Source backed by one online device: the data
// channel when it can be reached, in-band chunk IQs otherwise.
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
	codec, stored, err := s.fetchDirect(ctx, p, id)
	if errors.Is(err, errNoDirect) {
		codec, stored, err = s.fetchInBand(ctx, p, id)
	}
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

func (s *Swarm) fetchDirect(ctx context.Context, p *peer, id chunks.ID) (chunks.Codec, []byte, error) {
	dc, err := s.dataConnFor(ctx, p)
	if err != nil {
		return 0, nil, err
	}
	codec, stored, err := dc.get(ctx, id)
	if err != nil && !dc.alive() && ctx.Err() == nil {
		// The connection broke under this request: try in-band instead.
		return 0, nil, fmt.Errorf("%w: %w", errNoDirect, err)
	}
	return codec, stored, err
}

// inBandParallel is how many chunk IQs of one chunk are in flight; each
// peer also has at most inBandPerPeer of them in flight over all chunks,
// so its answers queue for at most a few seconds behind a throttled
// server and its keepalive pings still come back.
const (
	inBandParallel = 4
	inBandPerPeer  = 4
)

// fetchInBand assembles the chunk's stored form from ≤ PieceSize pieces
// carried by chunk IQs through the XMPP server.
func (s *Swarm) fetchInBand(ctx context.Context, p *peer, id chunks.ID) (chunks.Codec, []byte, error) {
	first, data, err := s.chunkPiece(ctx, p, id, 0)
	if err != nil {
		return 0, nil, err
	}
	buf := make([]byte, first.Total)
	copy(buf, data)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		ferr  error
		sem   = make(chan struct{}, inBandParallel)
		pctx  context.Context
		abort context.CancelFunc
	)
	pctx, abort = context.WithCancel(ctx)
	defer abort()
	for off := int64(len(data)); off < first.Total; off += PieceSize {
		sem <- struct{}{}
		wg.Add(1)
		go func(off int64) {
			defer wg.Done()
			defer func() { <-sem }()
			piece, b, err := s.chunkPiece(pctx, p, id, off)
			if err == nil && (piece.Total != first.Total || piece.Codec != first.Codec || (int64(len(b)) != min(PieceSize, first.Total-off))) {
				err = fmt.Errorf("in-band piece at %d disagrees with the first: %w", off, ErrProtocol)
			}
			if err != nil {
				mu.Lock()
				if ferr == nil {
					ferr = err
				}
				mu.Unlock()
				abort()
				return
			}
			copy(buf[off:], b)
		}(off)
		if pctx.Err() != nil {
			break
		}
	}
	wg.Wait()
	if ferr != nil {
		return 0, nil, ferr
	}
	if int64(len(data)) != min(PieceSize, first.Total) {
		return 0, nil, fmt.Errorf("in-band first piece of %d bytes: %w", len(data), ErrProtocol)
	}
	return chunks.Codec(first.Codec), buf, nil
}

func (s *Swarm) chunkPiece(ctx context.Context, p *peer, id chunks.ID, off int64) (chunkPiece, []byte, error) {
	select {
	case p.inBand <- struct{}{}:
		defer func() { <-p.inBand }()
	case <-ctx.Done():
		return chunkPiece{}, nil, ctx.Err()
	}
	var piece chunkPiece
	q := element("chunk", []xmlAttr{attr("id", id.String()), attr("offset", fmt.Sprint(off))}, nil)
	if err := s.sendIQ(ctx, p.jid, stanza.GetIQ, q, &piece); err != nil {
		var se stanza.Error
		if errors.As(err, &se) && se.Condition == stanza.ItemNotFound {
			return piece, nil, ErrNotFound
		}
		return piece, nil, fmt.Errorf("in-band piece at %d: %w", off, err)
	}
	b, err := piece.decode(id, off)
	return piece, b, err
}
