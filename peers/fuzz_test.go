package peers

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"testing"
	"time"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/engine"
	"github.com/uberan/latus/meta"
)

// seedIndexBody is an index page as the data channel carries it.
func seedIndexBody(t testing.TB, c *indexCodec) []byte {
	vs := []meta.FileVersion{
		meta.FileContent([]byte("hello"), time.Unix(1700000000, 0)),
		meta.DirContent(time.Unix(1700000000, 0)),
		meta.InlineContent([]byte("small, inline"), time.Unix(1700000000, 0)),
	}
	vs[0].Path, vs[0].Origin, vs[0].Seq, vs[0].Vector = "a.txt", "0123456789abcdef", 1, meta.Vector{"0123456789abcdef": 1}
	vs[1].Path, vs[1].Origin, vs[1].Seq, vs[1].Vector = "dir", "0123456789abcdef", 2, meta.Vector{"0123456789abcdef": 2}
	vs[2].Path, vs[2].Origin, vs[2].Seq, vs[2].Vector = "dir/s", "0123456789abcdef", 3, meta.Vector{"0123456789abcdef": 3, "fedcba9876543210": 1}
	body, err := encodeVersions(vs)
	if err != nil {
		t.Fatal(err)
	}
	return indexFrame(3, false, c.enc.EncodeAll(body, nil))
}

func indexFrame(next uint64, more bool, body []byte) []byte {
	out := binary.BigEndian.AppendUint64(nil, next)
	out = append(out, byte(boolInt(more)))
	return append(out, body...)
}

func testIndexCodec(t testing.TB) *indexCodec {
	c, err := newIndexCodec()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c
}

func TestIndexBodyRoundTrip(t *testing.T) {
	c := testIndexCodec(t)
	vs, next, more, err := parseIndexBody(chunks.CodecZstd, seedIndexBody(t, c), c.dec, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 3 || vs[0].Path != "a.txt" || vs[1].Path != "dir" || string(vs[2].Inline) != "small, inline" || next != 3 || more {
		t.Fatalf("decoded %+v next %d more %v", vs, next, more)
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"not zstd", indexFrame(2, false, []byte{1, 2, 3})},
		{"length past end", indexFrame(2, false, c.enc.EncodeAll([]byte{7}, nil))},
		{"empty claims more", indexFrame(0, true, c.enc.EncodeAll(nil, nil))},
		{"short header", []byte{0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, _, err := parseIndexBody(chunks.CodecZstd, tc.b, c.dec, 0); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// decodeFirst reads data's first element with decode, as the session's
// handler would after reading its start.
func decodeFirst[T any](data []byte, decode func(xml.TokenReader, *xml.StartElement) (T, error)) (T, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := d.Token()
		if err != nil {
			var zero T
			return zero, err
		}
		if se, ok := tok.(xml.StartElement); ok {
			return decode(d, &se)
		}
	}
}

func FuzzStreamOffer(f *testing.F) {
	f.Add([]byte(`<query xmlns='http://jabber.org/protocol/bytestreams' sid='abc' mode='tcp'><streamhost jid='proxy.example.org' host='10.0.0.1' port='5000'/></query>`))
	f.Add([]byte(`<query xmlns='http://jabber.org/protocol/bytestreams' sid='a'><streamhost jid='p' host='h' port='0'/><streamhost jid='p' host='h h' port='1'/></query>`))
	f.Add([]byte(`<query xmlns='http://jabber.org/protocol/bytestreams' sid='a' mode='udp'/>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := decodeFirst(data, decodeOffer)
		if err != nil {
			return
		}
		if !validSID(o.SID) || len(o.Hosts) == 0 || len(o.Hosts) > maxStreamhosts {
			t.Fatalf("offer accepted: %+v", o)
		}
		for _, h := range o.Hosts {
			if validAddr(h.Addr) != nil {
				t.Fatalf("streamhost address %q accepted", h.Addr)
			}
		}
	})
}

func FuzzIBBData(f *testing.F) {
	f.Add([]byte(`<data xmlns='http://jabber.org/protocol/ibb' sid='s1' seq='0'>aGVsbG8=</data>`), uint16(16))
	f.Add([]byte(`<data xmlns='http://jabber.org/protocol/ibb' sid='s1' seq='65536'>!!</data>`), uint16(4))
	f.Fuzz(func(t *testing.T, data []byte, block uint16) {
		type ibbData struct {
			sid  string
			seq  uint16
			data []byte
		}
		d, err := decodeFirst(data, func(r xml.TokenReader, start *xml.StartElement) (ibbData, error) {
			sid, seq, b, err := decodeIBBData(r, start, int(block))
			return ibbData{sid, seq, b}, err
		})
		if err == nil && (len(d.data) > int(block) || !validSID(d.sid)) {
			t.Fatalf("block of %d bytes (limit %d) sid %q accepted", len(d.data), block, d.sid)
		}
	})
}

func FuzzPresence(f *testing.F) {
	fp := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	f.Add([]byte(`<presence from='a@b/latus-0123456789abcdef'><latus xmlns='urn:latus:0' device='0123456789abcdef' fingerprint='` + fp + `' seq='3' addrs='127.0.0.1:4000 [::1]:4000'/></presence>`))
	f.Add([]byte(`<presence type='unavailable' from='a@b/x'/>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p presenceStanza
		if err := unmarshalPayload(data, &p); err != nil || p.Latus == nil {
			return
		}
		if err := p.Latus.validate(); err == nil {
			if len(p.Latus.Fingerprint) != 64 || p.Latus.Device != p.Latus.Fingerprint[:16] {
				t.Fatalf("invalid presence accepted: %+v", p.Latus)
			}
		}
	})
}

func FuzzFrames(f *testing.F) {
	f.Add(appendRequest(nil, request{id: 7, chunk: chunks.Sum(nil)}))
	f.Add(appendRequest(nil, request{op: opIndex, id: 8, since: 1 << 40}))
	f.Add(appendRespHeader(nil, respHeader{id: 7, status: statusOK, codec: chunks.CodecZstd, length: 1000}))
	f.Add(appendRespHeader(nil, respHeader{id: 7, status: statusNotFound}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if req, err := parseRequest(data); err == nil {
			if got := appendRequest(nil, req); !bytes.Equal(got, data) {
				t.Fatalf("request does not round-trip: %x → %x", data, got)
			}
		}
		if h, err := parseRespHeader(data); err == nil {
			if h.length > maxStored || !knownCodec(h.codec) || h.status > statusBadRequest {
				t.Fatalf("bad header accepted: %+v", h)
			}
			if got := appendRespHeader(nil, h); !bytes.Equal(got, data) {
				t.Fatalf("header does not round-trip")
			}
		}
	})
}

func FuzzKeep(f *testing.F) {
	f.Add([]byte(`<keep xmlns='urn:latus:0' release='true' nonce='` + chunks.Sum(nil).String() + `'><c id='` + chunks.Sum(nil).String() + `' size='5'/></keep>`))
	f.Add([]byte(`<keep xmlns='urn:latus:0' nonce='00'><c id='nope' code='ok' proof='zz'/></keep>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var q keepQuery
		if xml.Unmarshal(data, &q) != nil {
			return
		}
		if req, err := q.request(); err == nil && (len(req.Chunks) == 0 || len(req.Chunks) > engine.MaxKeepChunks) {
			t.Fatalf("accepted %d chunks", len(req.Chunks))
		}
		if as, err := q.answers(); err == nil && len(as) > engine.MaxKeepChunks {
			t.Fatalf("accepted %d answers", len(as))
		}
	})
}
