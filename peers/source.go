package peers

import (
	"context"
	"errors"
	"fmt"

	"github.com/klauspost/compress/zstd"

	"github.com/uberan/latus/chunks"
)

// deviceSource is a chunks.Source backed by one online device, over the
// data channel to it (whichever transport carries that).
type deviceSource struct {
	s *Swarm
	p *peer
}

func (d *deviceSource) Name() string { return d.p.device }

// Fetch returns chunk id's plain bytes, verified against id: a device that
// serves anything else gets chunks.ErrCorrupt, so the fetcher goes
// elsewhere.
func (d *deviceSource) Fetch(ctx context.Context, id chunks.ID) ([]byte, error) {
	s, p := d.s, d.p
	if p.ctx.Err() != nil {
		return nil, fmt.Errorf("fetch chunk %s from %s: %w", id.Short(), p.device, ErrOffline)
	}
	codec, stored, err := s.fetchChunk(ctx, p, id)
	if err != nil {
		if !errors.Is(err, ErrNotFound) && ctx.Err() == nil {
			p.failed.Add(1)
		}
		return nil, fmt.Errorf("fetch chunk %s from %s: %w", id.Short(), p.device, err)
	}
	plain, err := s.plain(id, codec, stored)
	if err != nil {
		p.failed.Add(1)
		s.log.Warn("fetch: peer served bad bytes", "peer", p.device, "chunk", id.Short(), "err", err)
		return nil, fmt.Errorf("fetch chunk %s from %s: %w", id.Short(), p.device, err)
	}
	p.served.Add(1)
	p.recv.add(len(stored))
	return plain, nil
}

func (s *Swarm) fetchChunk(ctx context.Context, p *peer, id chunks.ID) (chunks.Codec, []byte, error) {
	dc, err := s.dataConnFor(ctx, p)
	if err != nil {
		return 0, nil, err
	}
	return dc.get(ctx, id)
}

// plain decodes a chunk's stored form and checks it hashes to id.
func (s *Swarm) plain(id chunks.ID, codec chunks.Codec, stored []byte) ([]byte, error) {
	plain := stored
	switch codec {
	case chunks.CodecNone:
	case chunks.CodecZstd:
		var err error
		plain, err = s.zstd.DecodeAll(stored, nil)
		if err != nil {
			return nil, fmt.Errorf("chunk %s: zstd: %v: %w", id.Short(), err, chunks.ErrCorrupt)
		}
	default:
		return nil, fmt.Errorf("chunk %s: codec %d: %w", id.Short(), codec, chunks.ErrCorrupt)
	}
	if chunks.Sum(plain) != id {
		return nil, fmt.Errorf("chunk %s: bytes do not hash to it: %w", id.Short(), chunks.ErrCorrupt)
	}
	return plain, nil
}

func newZstdDecoder() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(2*maxStored))
}
