package peers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net"
	"time"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

const (
	nsDiscoItems = "http://jabber.org/protocol/disco#items"
	nsDiscoInfo  = "http://jabber.org/protocol/disco#info"
	// maxDiscoItems bounds the server's items asked whether they are a proxy.
	maxDiscoItems = 32
)

// proxyFound is the outcome of looking for the server's proxy, kept for
// the session it was found in.
type proxyFound struct {
	sess *xmpp.Session
	host streamhost
	err  error
}

type discoItems struct {
	XMLName xml.Name `xml:"http://jabber.org/protocol/disco#items query"`
	Items   []struct {
		JID string `xml:"jid,attr"`
	} `xml:"item"`
}

type discoInfo struct {
	XMLName    xml.Name `xml:"http://jabber.org/protocol/disco#info query"`
	Identities []struct {
		Category string `xml:"category,attr"`
		Type     string `xml:"type,attr"`
	} `xml:"identity"`
}

// findProxy returns the server's SOCKS5 bytestream proxy: an item of the
// server (disco#items) whose identity is proxy/bytestreams (disco#info),
// and its address (a bytestreams query). The answer, found or not, holds
// for the session.
func (s *Swarm) findProxy(ctx context.Context) (streamhost, error) {
	sess, _, err := s.session()
	if err != nil {
		return streamhost{}, err
	}
	s.mu.Lock()
	f := s.proxy
	s.mu.Unlock()
	if f.sess == sess {
		return f.host, f.err
	}
	host, err := s.discoverProxy(ctx, sess.LocalAddr().Domain())
	if ctx.Err() != nil {
		return host, err // not an answer about the server: ask again next time
	}
	s.mu.Lock()
	s.proxy = proxyFound{sess: sess, host: host, err: err}
	s.mu.Unlock()
	if err != nil {
		s.log.Info("data: no bytestream proxy on the server; devices that cannot reach each other use in-band", "err", err)
	} else {
		s.log.Info("data: bytestream proxy found", "proxy", host.JID, "addr", host.Addr)
	}
	return host, err
}

func (s *Swarm) discoverProxy(ctx context.Context, server jid.JID) (streamhost, error) {
	var items discoItems
	if err := s.sendIQ(ctx, server, stanza.GetIQ, wrapNS(nsDiscoItems, "query", nil, nil), &items); err != nil {
		return streamhost{}, fmt.Errorf("items of %s: %w", server, err)
	}
	for i, it := range items.Items {
		if i == maxDiscoItems {
			break
		}
		j, err := jid.Parse(it.JID)
		if err != nil {
			continue
		}
		var info discoInfo
		if err := s.sendIQ(ctx, j, stanza.GetIQ, wrapNS(nsDiscoInfo, "query", nil, nil), &info); err != nil {
			continue
		}
		for _, id := range info.Identities {
			if id.Category == "proxy" && id.Type == "bytestreams" {
				return s.proxyAddr(ctx, j)
			}
		}
	}
	return streamhost{}, fmt.Errorf("no item of %s is a bytestream proxy (mod_proxy65)", server)
}

// proxyAddr asks the proxy at j for its SOCKS5 address.
func (s *Swarm) proxyAddr(ctx context.Context, j jid.JID) (streamhost, error) {
	var a streamAnswer
	if err := s.sendIQ(ctx, j, stanza.GetIQ, bsElement("query", nil, nil), &a); err != nil {
		return streamhost{}, fmt.Errorf("address of proxy %s: %w", j, err)
	}
	if a.Host == nil {
		return streamhost{}, fmt.Errorf("proxy %s named no streamhost: %w", j, ErrProtocol)
	}
	h, err := parseStreamhost([]xml.Attr{attr("jid", a.Host.JID), attr("host", a.Host.Host), attr("port", a.Host.Port)})
	if err != nil {
		return streamhost{}, fmt.Errorf("proxy %s: %w", j, err)
	}
	return h, nil
}

func randomSID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// dialRelay opens a bytestream to p through the server's proxy: p
// connects first (it answers the offer once connected), then this device,
// then this device activates the stream. It returns the stream and the
// proxy's JID.
func (s *Swarm) dialRelay(ctx context.Context, p *peer) (net.Conn, string, error) {
	sh, err := s.findProxy(ctx)
	if err != nil {
		return nil, "", err
	}
	sess, _, err := s.session()
	if err != nil {
		return nil, "", err
	}
	me, sid := sess.LocalAddr(), randomSID()
	var ans streamAnswer
	if err := s.sendIQ(ctx, p.jid, stanza.SetIQ, streamOffer{SID: sid, Hosts: []streamhost{sh}}.tokens(), &ans); err != nil {
		return nil, "", fmt.Errorf("offer %s the proxy %s: %w", p.device, sh.JID, err)
	}
	if ans.Used == nil {
		return nil, "", fmt.Errorf("%s accepted the proxy without naming it: %w", p.device, ErrProtocol)
	}
	if used, err := jid.Parse(ans.Used.JID); err != nil || !used.Equal(sh.JID) {
		return nil, "", fmt.Errorf("%s used streamhost %.80q, offered %s: %w", p.device, ans.Used.JID, sh.JID, ErrProtocol)
	}
	var d net.Dialer
	c, err := socks5Connect(ctx, &d, sh.Addr, streamHash(sid, me, p.jid))
	if err != nil {
		return nil, "", fmt.Errorf("connect to proxy %s: %w", sh.JID, err)
	}
	activate := bsElement("query", []xml.Attr{attr("sid", sid)}, bsElement("activate", nil, chars(p.jid.String())))
	if err := s.sendIQ(ctx, sh.JID, stanza.SetIQ, activate, nil); err != nil {
		c.Close()
		return nil, "", fmt.Errorf("activate the stream at proxy %s: %w", sh.JID, err)
	}
	return c, sh.JID.String(), nil
}

// relayPad is the padding that follows the last response of a burst on a
// proxied stream. Prosody 0.12's mod_proxy65 relays in 4 KiB reads from
// LuaSocket's 8 KiB buffer, and when the other side was slow to drain
// it resumes reading without looking at that buffer: a stream's last
// few KiB stay there until more bytes come. Padding of more than the
// buffer pushes the response itself through; the padding waits for the
// next one.
const relayPad = 9 << 10

// relayConnectTimeout bounds the target's connection to a proxy: it
// happens inside the session's handler, which answers the offer only
// once connected (XEP-0065 §5.3.3) and cannot defer its answer.
const relayConnectTimeout = 3 * time.Second

// answerStreamOffer takes p's offer of a proxied stream: it connects to
// the first streamhost that answers, names it in the answer, and serves
// the data channel over the stream once the requester activated it.
func (s *Swarm) answerStreamOffer(iq stanza.IQ, r xml.TokenReader, start *xml.StartElement, p *peer) (xml.TokenReader, error) {
	o, err := decodeOffer(r, start)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(p.ctx, relayConnectTimeout)
	defer cancel()
	var d net.Dialer
	for _, h := range o.Hosts {
		c, err := socks5Connect(ctx, &d, h.Addr, streamHash(o.SID, iq.From, s.fullJID()))
		if err != nil {
			s.log.Debug("data: streamhost offered by peer unreachable", "peer", p.device, "streamhost", h.JID, "err", err)
			continue
		}
		if !s.goOwned(func() { s.serveConn(c, relayPad) }) {
			c.Close()
			return nil, stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAcceptable}
		}
		return bsElement("query", []xml.Attr{attr("sid", o.SID)}, bsElement("streamhost-used", []xml.Attr{attr("jid", h.JID.String())}, nil)), nil
	}
	return nil, stanza.Error{Type: stanza.Cancel, Condition: stanza.ItemNotFound}
}
