package peers

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"

	"github.com/klauspost/compress/zstd"
	"mellium.im/xmpp/stanza"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

// Index pages travel over the data channel when there is one: a throttled
// XMPP server then does not slow metadata sync, and it never sees path
// names. In-band pages are the fallback, each within indexBudget so its
// stanza stays under maxStanza; a single version larger than that (a file
// of a few hundred chunks) is carried in several in-band pieces.
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

// fetchIndex asks p for its index page after since: over the data channel
// when it can be reached, in-band otherwise.
func (s *Swarm) fetchIndex(ctx context.Context, p *peer, since uint64) ([]meta.FileVersion, uint64, bool, error) {
	dc, err := s.dataConnFor(ctx, p)
	if err == nil {
		r := dc.do(ctx, request{op: opIndex, since: since})
		if r.err == nil {
			p.recv.add(len(r.stored))
			return parseIndexBody(r.codec, r.stored, s.index.dec, since)
		}
		if dc.alive() || ctx.Err() != nil {
			return nil, 0, false, fmt.Errorf("index since %d from %s: %w", since, p.device, r.err)
		}
		err = fmt.Errorf("%w: %w", errNoDirect, r.err) // the connection broke: go in-band
	}
	if !errors.Is(err, errNoDirect) {
		return nil, 0, false, err
	}
	return s.indexInBand(ctx, p, since)
}

// indexInBand asks for the page with index IQs: one, or one per piece when
// the page is a single version over indexBudget.
func (s *Swarm) indexInBand(ctx context.Context, p *peer, since uint64) ([]meta.FileVersion, uint64, bool, error) {
	var (
		first indexPage
		buf   []byte
	)
	for off := uint64(0); ; {
		attrs := []xmlAttr{attr("since", strconv.FormatUint(since, 10))}
		if off > 0 {
			attrs = append(attrs, attr("offset", strconv.FormatUint(off, 10)))
		}
		var page indexPage
		if err := s.sendIQ(ctx, p.jid, stanza.GetIQ, element("index", attrs, nil), &page); err != nil {
			return nil, 0, false, fmt.Errorf("index since %d from %s: %w", since, p.device, err)
		}
		p.recv.add(len(page.Data))
		if page.Total == 0 && off == 0 {
			vs, err := page.decode(since, s.index.dec)
			if err != nil {
				return nil, 0, false, fmt.Errorf("index from %s: %w", p.device, err)
			}
			return vs, page.Next, page.More, nil
		}
		piece, err := page.piece(off, first)
		if err != nil {
			return nil, 0, false, fmt.Errorf("index from %s: %w", p.device, err)
		}
		if off == 0 {
			first = page
			buf = make([]byte, 0, page.Total)
		}
		buf = append(buf, piece...)
		off += uint64(len(piece))
		if off == first.Total {
			vs, err := decodePageBody(buf, first.Codec, s.index.dec, since, first.Next, first.More)
			if err != nil {
				return nil, 0, false, fmt.Errorf("index from %s: %w", p.device, err)
			}
			return vs, first.Next, first.More, nil
		}
	}
}

// piece checks one in-band piece of a page split by bytes: it must sit at
// off, agree with the first piece, and not run past Total.
func (p indexPage) piece(off uint64, first indexPage) ([]byte, error) {
	if p.Total == 0 || p.Total > maxStored || p.Offset != off {
		return nil, fmt.Errorf("index piece at %d of %d, asked %d: %w", p.Offset, p.Total, off, ErrProtocol)
	}
	if off > 0 && (p.Total != first.Total || p.Next != first.Next || p.More != first.More || p.Codec != first.Codec) {
		return nil, fmt.Errorf("index piece at %d disagrees with the first: %w", off, ErrProtocol)
	}
	if len(p.Data) > base64.StdEncoding.EncodedLen(indexBudget) {
		return nil, fmt.Errorf("index piece of %d bytes: %w", len(p.Data), ErrProtocol)
	}
	b, err := base64.StdEncoding.DecodeString(p.Data)
	if err != nil {
		return nil, fmt.Errorf("index piece: %v: %w", err, ErrProtocol)
	}
	if len(b) == 0 || len(b) > indexBudget || uint64(len(b)) > p.Total-off {
		return nil, fmt.Errorf("index piece of %d bytes at %d of %d: %w", len(b), off, p.Total, ErrProtocol)
	}
	return b, nil
}

// answerIndexPiece answers an in-band index query: the page, or when the
// page is one version over indexBudget, its piece at q.Offset.
func (s *Swarm) answerIndexPiece(q indexQuery) (xml.TokenReader, error) {
	body, next, more, err := s.indexPage(q.Since, indexBudget, &s.pageHint)
	if err != nil {
		s.log.Warn("sync: serving index", "err", err)
		return nil, stanza.Error{Type: stanza.Wait, Condition: stanza.InternalServerError}
	}
	page := indexPage{Next: next, More: more, Codec: "zstd"}
	if len(body) <= indexBudget && q.Offset == 0 {
		return page.tokens(body), nil
	}
	if q.Offset >= uint64(len(body)) || len(body) > maxStored {
		return nil, stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest}
	}
	page.Offset, page.Total = q.Offset, uint64(len(body))
	if s.tune.indexPieceServed != nil {
		s.tune.indexPieceServed()
	}
	return page.tokens(body[q.Offset:min(uint64(len(body)), q.Offset+indexBudget)]), nil
}
