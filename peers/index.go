package peers

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/klauspost/compress/zstd"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

// Index pages travel over the data channel, whichever transport carries
// it: a throttled XMPP server slows metadata sync only when it carries
// the channel in-band, and it never sees path names.
const (
	// directIndexBudget bounds the compressed versions of one index page
	// over the data channel (at least one version always goes).
	directIndexBudget = 1 << 20
)

// decodePageBody checks a page's (possibly compressed) versions and returns
// them. It allocates at most about maxIndexRaw.
func decodePageBody(raw []byte, codec string, dec *zstd.Decoder, since, next uint64, more bool) ([]meta.FileVersion, error) {
	var err error
	switch codec {
	case "":
	case "zstd":
		if raw, err = decodeBounded(dec, raw, maxIndexRaw); err != nil {
			return nil, fmt.Errorf("index page: %v: %w", err, ErrProtocol)
		}
	default:
		return nil, fmt.Errorf("index page: codec %.20q: %w", codec, ErrProtocol)
	}
	var vs []meta.FileVersion
	for len(raw) > 0 {
		if len(vs) >= maxIndexPage {
			return nil, fmt.Errorf("index page over %d versions: %w", maxIndexPage, ErrProtocol)
		}
		n, k := binary.Uvarint(raw)
		if k <= 0 || n > uint64(len(raw)-k) {
			return nil, fmt.Errorf("index page: bad length: %w", ErrProtocol)
		}
		var v meta.FileVersion
		if err := v.UnmarshalBinary(raw[k : k+int(n)]); err != nil {
			return nil, fmt.Errorf("index page: version %d: %v: %w", len(vs), err, ErrProtocol)
		}
		vs = append(vs, v)
		raw = raw[k+int(n):]
	}
	if len(vs) > 0 && next <= since {
		return nil, fmt.Errorf("index page: next %d not after %d: %w", next, since, ErrProtocol)
	}
	if len(vs) == 0 && more {
		return nil, fmt.Errorf("index page: empty page claims more: %w", ErrProtocol)
	}
	return vs, nil
}

// indexBody is an index page as the data channel carries it.
func (s *Swarm) indexBody(since uint64) ([]byte, error) {
	body, next, more, err := s.indexPage(since, directIndexBudget, &s.directHint)
	if err != nil {
		return nil, err
	}
	if len(body)+indexHeadLen > maxStored {
		return nil, fmt.Errorf("index version after %d: %d compressed bytes, over the %d a peer accepts", since, len(body), maxStored)
	}
	out := make([]byte, 0, indexHeadLen+len(body))
	out = binary.BigEndian.AppendUint64(out, next)
	out = append(out, byte(boolInt(more)))
	return append(out, body...), nil
}

// parseIndexBody decodes an index page from the data channel.
func parseIndexBody(codec chunks.Codec, b []byte, dec *zstd.Decoder, since uint64) ([]meta.FileVersion, uint64, bool, error) {
	if codec != chunks.CodecZstd || len(b) < indexHeadLen || b[8] > 1 {
		return nil, 0, false, fmt.Errorf("data channel: bad index page: %w", ErrProtocol)
	}
	next, more := binary.BigEndian.Uint64(b), b[8] == 1
	vs, err := decodePageBody(b[indexHeadLen:], "zstd", dec, since, next, more)
	return vs, next, more, err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// fetchIndex asks p for its index page after since, over the data channel.
func (s *Swarm) fetchIndex(ctx context.Context, p *peer, since uint64) ([]meta.FileVersion, uint64, bool, error) {
	dc, err := s.dataConnFor(ctx, p)
	if err != nil {
		return nil, 0, false, fmt.Errorf("index since %d from %s: %w", since, p.device, err)
	}
	r := dc.do(ctx, request{op: opIndex, since: since})
	if r.err != nil {
		return nil, 0, false, fmt.Errorf("index since %d from %s: %w", since, p.device, r.err)
	}
	p.recv.add(len(r.stored))
	return parseIndexBody(r.codec, r.stored, s.index.dec, since)
}
