package peers

import (
	"bytes"
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

func knownCodec(c chunks.Codec) bool { return c == chunks.CodecNone || c == chunks.CodecZstd }

type xmlAttr = xml.Attr

func attr(name, value string) xml.Attr { return xml.Attr{Name: xml.Name{Local: name}, Value: value} }

// attrValue is the value of the attribute name, "" without one.
func attrValue(as []xml.Attr, name string) string {
	for _, a := range as {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// element is <name xmlns='urn:latus:0' attrs…>text</name>.
func element(name string, attrs []xml.Attr, text []byte) xml.TokenReader {
	var inner xml.TokenReader
	if len(text) > 0 {
		inner = xmlstream.Token(xml.CharData(text))
	}
	return wrapNS(NS, name, attrs, inner)
}

// wrapNS is <name xmlns=ns attrs…>inner</name>.
func wrapNS(ns, name string, attrs []xml.Attr, inner xml.TokenReader) xml.TokenReader {
	return xmlstream.Wrap(inner, xml.StartElement{Name: xml.Name{Space: ns, Local: name}, Attr: attrs})
}

// chars is text content.
func chars(s string) xml.TokenReader { return xmlstream.Token(xml.CharData(s)) }

// multi is the elements rs one after another.
func multi(rs ...xml.TokenReader) xml.TokenReader { return xmlstream.MultiReader(rs...) }

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
