package peers

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"testing"
	"time"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/engine"
	"github.com/uberan/latus/meta"
)

func seedIndexPage(t testing.TB) []byte {
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
	var b bytes.Buffer
	if err := writeTokens(&b, indexPage{Next: 3}.tokens(body)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func testIndexCodec(t testing.TB) *indexCodec {
	c, err := newIndexCodec()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c
}

func FuzzIndexPage(f *testing.F) {
	c := testIndexCodec(f)
	f.Add(seedIndexPage(f))
	f.Add([]byte(`<index xmlns='urn:latus:0' next='9' codec='zstd'>` + base64.StdEncoding.EncodeToString(c.enc.EncodeAll(bytes.Repeat([]byte{0}, 1<<20), nil)) + `</index>`))
	f.Add([]byte(`<index xmlns='urn:latus:0' next='5' more='true'></index>`))
	f.Add([]byte(`<index xmlns='urn:latus:0' next='1'>AQ==</index>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p indexPage
		if err := unmarshalPayload(data, &p); err != nil {
			return
		}
		vs, err := p.decode(0, c.dec)
		if err != nil {
			return
		}
		if len(vs) > maxIndexPage {
			t.Fatalf("%d versions accepted", len(vs))
		}
	})
}

func TestIndexPageRoundTrip(t *testing.T) {
	var p indexPage
	if err := unmarshalPayload(seedIndexPage(t), &p); err != nil {
		t.Fatal(err)
	}
	vs, err := p.decode(0, testIndexCodec(t).dec)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 3 || vs[0].Path != "a.txt" || vs[1].Path != "dir" || string(vs[2].Inline) != "small, inline" || p.Next != 3 {
		t.Fatalf("decoded %+v", vs)
	}
	for _, tc := range []struct{ name, xml string }{
		{"bad base64", `<index xmlns='urn:latus:0' next='2'>!!</index>`},
		{"length past end", `<index xmlns='urn:latus:0' next='2'>Bw==</index>`},
		{"empty claims more", `<index xmlns='urn:latus:0' next='0' more='true'></index>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p indexPage
			if err := unmarshalPayload([]byte(tc.xml), &p); err != nil {
				return
			}
			if _, err := p.decode(0, testIndexCodec(t).dec); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func FuzzChunkPiece(f *testing.F) {
	id := chunks.Sum([]byte("x"))
	f.Add([]byte(`<chunk xmlns='urn:latus:0' id='`+id.String()+`' offset='0' total='1' codec='0'>eA==</chunk>`), int64(0))
	f.Add([]byte(`<chunk xmlns='urn:latus:0' id='`+id.String()+`' offset='0' total='99999999999' codec='7'></chunk>`), int64(0))
	f.Fuzz(func(t *testing.T, data []byte, off int64) {
		var p chunkPiece
		if err := unmarshalPayload(data, &p); err != nil {
			return
		}
		b, err := p.decode(id, off)
		if err != nil {
			return
		}
		if len(b) > PieceSize || int64(len(b)) > p.Total-off {
			t.Fatalf("piece of %d bytes at %d of %d accepted", len(b), off, p.Total)
		}
	})
}

func FuzzChunkQuery(f *testing.F) {
	f.Add([]byte(`<chunk xmlns='urn:latus:0' id='` + chunks.Sum(nil).String() + `' offset='131072'/>`))
	f.Add([]byte(`<chunk xmlns='urn:latus:0' id='zz' offset='-1'/>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var q chunkQuery
		if err := unmarshalPayload(data, &q); err != nil {
			return
		}
		if _, err := q.parse(); err == nil && (q.Offset < 0 || q.Offset > maxStored) {
			t.Fatalf("offset %d accepted", q.Offset)
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
