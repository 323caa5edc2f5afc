package peers

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"unicode"

	"github.com/klauspost/compress/zstd"
	"mellium.im/xmlstream"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/internal/identity"
	"github.com/uberan/latus/meta"
)

// NS is the XML namespace of every Latus payload, in presence and in IQs.
const NS = "urn:latus:0"

// Wire limits. Servers refuse stanzas over a size limit (Prosody 256 KiB
// by default, ejabberd often 64 KiB) and throttle each client (Prosody's
// stock mod_limits: 10 kB/s), so no Latus stanza exceeds maxStanza: a
// large one would get the stream closed, and would hold the device's
// stream (its keepalive pings included) for seconds.
const (
	// maxStanza bounds every stanza Latus sends.
	maxStanza = 16 << 10
	// PieceSize is the largest slice of a chunk's stored bytes one in-band
	// chunk IQ carries (≤ 11 KiB once base64-encoded).
	PieceSize = 8 << 10
	// indexBudget bounds the (compressed) versions of one in-band index
	// page or piece (≤ 14 KiB once base64-encoded).
	indexBudget = 10 << 10
	// maxIndexRaw bounds the decompressed versions of one index page.
	maxIndexRaw = 4 << 20
	// maxIndexPage bounds the versions one index page may carry.
	maxIndexPage = 4096
	// maxStored bounds a chunk's stored form as accepted from a peer.
	maxStored  = chunks.MaxChunk + 1<<20
	maxAddrLen = 256
)

// presencePayload is <latus xmlns='urn:latus:0' device=… fingerprint=… seq=… epoch=… base=… addrs=…/>;
// addrs lists the data channel's addresses, space-separated (addrs.go);
// epoch and base are its index's meta.Epoch (absent from older devices).
type presencePayload struct {
	XMLName     xml.Name `xml:"urn:latus:0 latus"`
	Device      string   `xml:"device,attr"`
	Fingerprint string   `xml:"fingerprint,attr"`
	Seq         uint64   `xml:"seq,attr"`
	Epoch       uint64   `xml:"epoch,attr,omitempty"`
	Base        uint64   `xml:"base,attr,omitempty"`
	Addrs       string   `xml:"addrs,attr,omitempty"`
	Name        string   `xml:"name,attr,omitempty"` // host name, shown by latus devices
}

// maxNameLen bounds a device name in presence.
const maxNameLen = 64

func (p presencePayload) validate() error {
	if !identity.IsFingerprint(p.Fingerprint) {
		return fmt.Errorf("presence: fingerprint %.80q: %w", p.Fingerprint, ErrProtocol)
	}
	if p.Device != p.Fingerprint[:identity.DeviceLen] {
		return fmt.Errorf("presence: device %.40q does not match its fingerprint: %w", p.Device, ErrProtocol)
	}
	if _, err := parseAddrs(p.Addrs); err != nil {
		return fmt.Errorf("presence: %w", err)
	}
	if len(p.Name) > maxNameLen || strings.IndexFunc(p.Name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return fmt.Errorf("presence: name %.80q: %w", p.Name, ErrProtocol)
	}
	return nil
}

func (p presencePayload) tokens() xml.TokenReader {
	attrs := []xml.Attr{
		attr("device", p.Device), attr("fingerprint", p.Fingerprint),
		attr("seq", strconv.FormatUint(p.Seq, 10)),
	}
	if p.Epoch != 0 {
		attrs = append(attrs, attr("epoch", strconv.FormatUint(p.Epoch, 10)), attr("base", strconv.FormatUint(p.Base, 10)))
	}
	if p.Addrs != "" {
		attrs = append(attrs, attr("addrs", p.Addrs))
	}
	if p.Name != "" {
		attrs = append(attrs, attr("name", p.Name))
	}
	return element("latus", attrs, nil)
}

func validAddr(a string) error {
	if len(a) > maxAddrLen {
		return fmt.Errorf("address too long: %w", ErrProtocol)
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" {
		return fmt.Errorf("address %.80q: %w", a, ErrProtocol)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("address %.80q: bad port: %w", a, ErrProtocol)
	}
	return nil
}

// indexQuery asks for a device's index after position Since, or for the
// piece at Offset of a page split by bytes (index.go).
type indexQuery struct {
	XMLName xml.Name `xml:"urn:latus:0 index"`
	Since   uint64   `xml:"since,attr"`
	Offset  uint64   `xml:"offset,attr,omitempty"`
}

// indexPage answers an indexQuery: the versions, each length-prefixed
// (uvarint) in meta's binary form, concatenated and base64-encoded.
type indexPage struct {
	XMLName xml.Name `xml:"urn:latus:0 index"`
	Next    uint64   `xml:"next,attr"`
	More    bool     `xml:"more,attr"`
	Codec   string   `xml:"codec,attr,omitempty"` // "zstd" or "" (none)
	// Total, when not 0, is the size of a page split by bytes; Data is
	// then its piece at Offset.
	Offset uint64 `xml:"offset,attr,omitempty"`
	Total  uint64 `xml:"total,attr,omitempty"`
	Data   string `xml:",chardata"`
}

// encodeVersions is the body of an index page.
func encodeVersions(vs []meta.FileVersion) ([]byte, error) {
	var b []byte
	for _, v := range vs {
		enc, err := v.MarshalBinary()
		if err != nil {
			return nil, err
		}
		b = binary.AppendUvarint(b, uint64(len(enc)))
		b = append(b, enc...)
	}
	return b, nil
}

// decode checks the page and returns its versions. It allocates at most
// about the size of its input.
func (p indexPage) decode(since uint64, dec *zstd.Decoder) ([]meta.FileVersion, error) {
	if len(p.Data) > base64.StdEncoding.EncodedLen(indexBudget) || p.Total != 0 {
		return nil, fmt.Errorf("index page of %d bytes (total %d): %w", len(p.Data), p.Total, ErrProtocol)
	}
	raw, err := base64.StdEncoding.DecodeString(p.Data)
	if err != nil {
		return nil, fmt.Errorf("index page: %v: %w", err, ErrProtocol)
	}
	return decodePageBody(raw, p.Codec, dec, since, p.Next, p.More)
}

func (p indexPage) tokens(body []byte) xml.TokenReader {
	attrs := []xml.Attr{attr("next", strconv.FormatUint(p.Next, 10)), attr("more", strconv.FormatBool(p.More))}
	if p.Codec != "" {
		attrs = append(attrs, attr("codec", p.Codec))
	}
	if p.Total != 0 {
		attrs = append(attrs, attr("offset", strconv.FormatUint(p.Offset, 10)), attr("total", strconv.FormatUint(p.Total, 10)))
	}
	return element("index", attrs, []byte(base64.StdEncoding.EncodeToString(body)))
}

// decodeBounded decompresses src with dec, which must have been made by
// newIndexCodec: its memory limit refuses output over maxIndexRaw (a
// small hostile frame can claim gigabytes).
func decodeBounded(dec *zstd.Decoder, src []byte, limit int) ([]byte, error) {
	out, err := dec.DecodeAll(src, nil)
	if err != nil {
		return nil, err
	}
	if len(out) > limit {
		return nil, fmt.Errorf("decompresses to %d bytes, over %d", len(out), limit)
	}
	return out, nil
}

// indexCodec compresses index pages: versions repeat paths, device ids and
// vectors, and bytes through the XMPP server are expensive.
type indexCodec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

func newIndexCodec() (*indexCodec, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxIndexRaw))
	if err != nil {
		enc.Close()
		return nil, err
	}
	return &indexCodec{enc: enc, dec: dec}, nil
}

func (c *indexCodec) close() {
	c.enc.Close()
	c.dec.Close()
}

// notifyQuery tells a device that this one's index reached Seq.
type notifyQuery struct {
	XMLName xml.Name `xml:"urn:latus:0 notify"`
	Seq     uint64   `xml:"seq,attr"`
}

// dialPayload asks for (empty Addrs) or gives the data channel's addresses.
type dialPayload struct {
	XMLName xml.Name `xml:"urn:latus:0 dial"`
	Addrs   string   `xml:"addrs,attr,omitempty"`
}

// chunkQuery asks for the piece of a chunk's stored form at Offset.
type chunkQuery struct {
	XMLName xml.Name `xml:"urn:latus:0 chunk"`
	ID      string   `xml:"id,attr"`
	Offset  int64    `xml:"offset,attr"`
}

func (q chunkQuery) parse() (chunks.ID, error) {
	id, err := chunks.ParseID(q.ID)
	if err != nil {
		return id, fmt.Errorf("chunk query: %v: %w", err, ErrProtocol)
	}
	if q.Offset < 0 || q.Offset > maxStored {
		return id, fmt.Errorf("chunk query: offset %d: %w", q.Offset, ErrProtocol)
	}
	return id, nil
}

// chunkPiece answers a chunkQuery: Total stored bytes in Codec, and the
// piece at Offset, base64-encoded.
type chunkPiece struct {
	XMLName xml.Name `xml:"urn:latus:0 chunk"`
	ID      string   `xml:"id,attr"`
	Offset  int64    `xml:"offset,attr"`
	Total   int64    `xml:"total,attr"`
	Codec   uint8    `xml:"codec,attr"`
	Data    string   `xml:",chardata"`
}

// decode checks the piece against the query it answers.
func (p chunkPiece) decode(id chunks.ID, offset int64) ([]byte, error) {
	if p.ID != id.String() || p.Offset != offset {
		return nil, fmt.Errorf("chunk piece for %.70s@%d, asked %s@%d: %w", p.ID, p.Offset, id.Short(), offset, ErrProtocol)
	}
	if p.Total < 0 || p.Total > maxStored || p.Offset > p.Total {
		return nil, fmt.Errorf("chunk piece: total %d: %w", p.Total, ErrProtocol)
	}
	if !knownCodec(chunks.Codec(p.Codec)) {
		return nil, fmt.Errorf("chunk piece: codec %d: %w", p.Codec, ErrProtocol)
	}
	if base64.StdEncoding.DecodedLen(len(p.Data)) > PieceSize+3 {
		return nil, fmt.Errorf("chunk piece: %d base64 bytes: %w", len(p.Data), ErrProtocol)
	}
	b, err := base64.StdEncoding.DecodeString(p.Data)
	if err != nil {
		return nil, fmt.Errorf("chunk piece: %v: %w", err, ErrProtocol)
	}
	if len(b) > PieceSize || int64(len(b)) > p.Total-p.Offset || (len(b) == 0 && p.Offset < p.Total) {
		return nil, fmt.Errorf("chunk piece: %d bytes at %d of %d: %w", len(b), p.Offset, p.Total, ErrProtocol)
	}
	return b, nil
}

func (p chunkPiece) tokens(data []byte) xml.TokenReader {
	return element("chunk", []xml.Attr{
		attr("id", p.ID), attr("offset", strconv.FormatInt(p.Offset, 10)),
		attr("total", strconv.FormatInt(p.Total, 10)), attr("codec", strconv.Itoa(int(p.Codec))),
	}, []byte(base64.StdEncoding.EncodeToString(data)))
}

func knownCodec(c chunks.Codec) bool { return c == chunks.CodecNone || c == chunks.CodecZstd }

type xmlAttr = xml.Attr

func attr(name, value string) xml.Attr { return xml.Attr{Name: xml.Name{Local: name}, Value: value} }

// element is <name xmlns='urn:latus:0' attrs…>text</name>.
func element(name string, attrs []xml.Attr, text []byte) xml.TokenReader {
	var inner xml.TokenReader
	if len(text) > 0 {
		inner = xmlstream.Token(xml.CharData(text))
	}
	return xmlstream.Wrap(inner, xml.StartElement{Name: xml.Name{Space: NS, Local: name}, Attr: attrs})
}

// unmarshalPayload decodes one payload element from raw XML, as the fuzz
// tests feed it; the session path decodes from the stream the same way.
func unmarshalPayload(data []byte, v any) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%v: %w", err, ErrProtocol)
	}
	return nil
}

// writeTokens serializes a payload, for tests and logs.
func writeTokens(w io.Writer, r xml.TokenReader) error {
	e := xml.NewEncoder(w)
	if _, err := xmlstream.Copy(e, r); err != nil {
		return err
	}
	return e.Flush()
}
