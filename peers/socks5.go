package peers

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"

	"mellium.im/xmpp/jid"
)

// SOCKS5 Bytestreams (XEP-0065) through the XMPP server's proxy: both
// devices open a TCP connection to the proxy (mod_proxy65 in Prosody and
// ejabberd), name the same stream with a SOCKS5 CONNECT (RFC 1928) to the
// domain SHA-1(sid + requester JID + target JID), and the requester asks
// the proxy to join them. The data channel's TLS then runs over the
// joined stream: the proxy relays ciphertext only.

const nsBytestreams = "http://jabber.org/protocol/bytestreams"

// maxStreamhosts bounds the streamhosts one offer may name.
const maxStreamhosts = 4

// streamhost is one proxy a stream can run through.
type streamhost struct {
	JID  jid.JID
	Addr string // host:port of its SOCKS5 listener
}

// streamOffer is a requester's <query xmlns=bytestreams sid mode><streamhost…/></query>.
type streamOffer struct {
	SID   string
	Hosts []streamhost
}

// validSID accepts the stream ids this package makes and XEP-0065's
// examples: 1–64 letters, digits, '-', '_' or '.'.
func validSID(sid string) bool {
	if len(sid) == 0 || len(sid) > 64 {
		return false
	}
	for _, c := range sid {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// parseStreamhost checks one streamhost's jid, host and port.
func parseStreamhost(a []xml.Attr) (streamhost, error) {
	j, host, port := attrValue(a, "jid"), attrValue(a, "host"), attrValue(a, "port")
	hj, err := jid.Parse(j)
	if err != nil || len(j) > maxAddrLen {
		return streamhost{}, fmt.Errorf("streamhost jid %.80q: %w", j, ErrProtocol)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 || port[0] == '0' {
		return streamhost{}, fmt.Errorf("streamhost port %.20q: %w", port, ErrProtocol)
	}
	addr := net.JoinHostPort(host, port)
	if !validHost(host) || validAddr(addr) != nil {
		return streamhost{}, fmt.Errorf("streamhost host %.80q: %w", host, ErrProtocol)
	}
	return streamhost{JID: hj, Addr: addr}, nil
}

// validHost accepts an IP address or a DNS name.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// decodeOffer reads a streamhost offer whose <query> start has been read.
// It stops at the first thing out of place, before allocating for more
// than maxStreamhosts hosts.
func decodeOffer(r xml.TokenReader, start *xml.StartElement) (streamOffer, error) {
	o := streamOffer{SID: attrValue(start.Attr, "sid")}
	if mode := attrValue(start.Attr, "mode"); mode != "" && mode != "tcp" {
		return streamOffer{}, fmt.Errorf("bytestream mode %.20q, only tcp: %w", mode, ErrProtocol)
	}
	if start.Name.Space != nsBytestreams || start.Name.Local != "query" || !validSID(o.SID) {
		return streamOffer{}, fmt.Errorf("bytestream offer %s sid %.80q: %w", start.Name.Local, o.SID, ErrProtocol)
	}
	depth := 0
	for {
		tok, err := r.Token()
		if err != nil {
			return streamOffer{}, fmt.Errorf("bytestream offer: %v: %w", err, ErrProtocol)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > 1 {
				continue // a streamhost's children (XEP-0065 defines none)
			}
			if t.Name.Space != nsBytestreams || t.Name.Local != "streamhost" {
				return streamOffer{}, fmt.Errorf("bytestream offer: unexpected <%.40s>: %w", t.Name.Local, ErrProtocol)
			}
			if len(o.Hosts) == maxStreamhosts {
				return streamOffer{}, fmt.Errorf("bytestream offer over %d streamhosts: %w", maxStreamhosts, ErrProtocol)
			}
			h, err := parseStreamhost(t.Attr)
			if err != nil {
				return streamOffer{}, fmt.Errorf("bytestream offer: %w", err)
			}
			o.Hosts = append(o.Hosts, h)
		case xml.EndElement:
			if depth == 0 {
				if len(o.Hosts) == 0 {
					return streamOffer{}, fmt.Errorf("bytestream offer without a streamhost: %w", ErrProtocol)
				}
				return o, nil
			}
			depth--
		}
	}
}

func (o streamOffer) tokens() xml.TokenReader {
	var hosts []xml.TokenReader
	for _, h := range o.Hosts {
		host, port, _ := net.SplitHostPort(h.Addr)
		hosts = append(hosts, bsElement("streamhost", []xml.Attr{attr("jid", h.JID.String()), attr("host", host), attr("port", port)}, nil))
	}
	return bsElement("query", []xml.Attr{attr("sid", o.SID), attr("mode", "tcp")}, multi(hosts...))
}

// bsElement is <name xmlns=bytestreams attrs…>inner</name>.
func bsElement(name string, attrs []xml.Attr, inner xml.TokenReader) xml.TokenReader {
	return wrapNS(nsBytestreams, name, attrs, inner)
}

// streamAnswer is the target's and the proxy's answers: the streamhost
// used, or the proxy's own address.
type streamAnswer struct {
	XMLName xml.Name `xml:"http://jabber.org/protocol/bytestreams query"`
	Used    *struct {
		JID string `xml:"jid,attr"`
	} `xml:"streamhost-used"`
	Host *struct {
		JID  string `xml:"jid,attr"`
		Host string `xml:"host,attr"`
		Port string `xml:"port,attr"`
	} `xml:"streamhost"`
}

// streamHash is the SOCKS5 destination naming a stream: hex SHA-1 of
// sid, requester and target full JIDs (XEP-0065 §5.3.2).
func streamHash(sid string, requester, target jid.JID) string {
	h := sha1.Sum([]byte(sid + requester.String() + target.String()))
	return hex.EncodeToString(h[:])
}

// socks5Connect opens a connection to the SOCKS5 proxy at addr and asks
// it to CONNECT to dst, a domain name (address type 3), port 0. Prosody's
// mod_proxy65 wants the greeting and the request each in one segment, the
// request only after the greeting's answer.
func socks5Connect(ctx context.Context, d *net.Dialer, addr, dst string) (net.Conn, error) {
	if len(dst) > 255 {
		return nil, fmt.Errorf("socks5: destination of %d bytes", len(dst))
	}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("socks5 %s: %w", addr, err)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	err = socks5Handshake(c, dst)
	if !stop() {
		err = errors.Join(err, ctx.Err())
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("socks5 %s: %w", addr, err)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	return c, nil
}

func socks5Handshake(c io.ReadWriter, dst string) error {
	// VER 5, one method: 0 (no authentication).
	if _, err := c.Write([]byte{5, 1, 0}); err != nil {
		return err
	}
	var b [262]byte
	if _, err := io.ReadFull(c, b[:2]); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if b[0] != 5 || b[1] != 0 {
		return fmt.Errorf("greeting refused (method %d): %w", b[1], ErrProtocol)
	}
	// VER 5, CMD 1 (CONNECT), RSV, ATYP 3 (domain name), len, name, port 0.
	req := append([]byte{5, 1, 0, 3, byte(len(dst))}, dst...)
	if _, err := c.Write(append(req, 0, 0)); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, b[:5]); err != nil {
		return fmt.Errorf("connect reply: %w", err)
	}
	if b[0] != 5 || b[1] != 0 {
		return fmt.Errorf("connect refused (reply %d): %w", b[1], ErrProtocol)
	}
	// BND.ADDR (its length depends on the type; b[4] is its first byte) and BND.PORT.
	var rest int
	switch b[3] {
	case 1:
		rest = 4 - 1 + 2
	case 3:
		rest = int(b[4]) + 2
	case 4:
		rest = 16 - 1 + 2
	default:
		return fmt.Errorf("connect reply address type %d: %w", b[3], ErrProtocol)
	}
	if _, err := io.ReadFull(c, b[:rest]); err != nil {
		return fmt.Errorf("connect reply: %w", err)
	}
	return nil
}
