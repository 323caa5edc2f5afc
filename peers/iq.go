package peers

import (
	"encoding/xml"
	"errors"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/uberan/latus/chunks"
)

const nsPing = "urn:xmpp:ping"

// handle is the session's stanza handler. It runs on the session's read
// loop: it answers IQs itself and hands longer work to peer goroutines; it
// never sends an IQ of its own (the answer could only arrive through this
// very loop).
func (s *Swarm) handle(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	switch start.Name.Local {
	case "presence":
		return s.onPresence(t, start)
	case "iq":
		return s.onIQ(t, start)
	}
	return nil
}

func (s *Swarm) onIQ(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	iq, err := stanza.NewIQ(*start)
	if err != nil || (iq.Type != stanza.GetIQ && iq.Type != stanza.SetIQ) {
		return nil
	}
	d := xml.NewTokenDecoder(t)
	var payload xml.StartElement
	for {
		tok, err := d.Token()
		if err != nil {
			return nil // no payload: the session answers service-unavailable
		}
		if se, ok := tok.(xml.StartElement); ok {
			payload = se
			break
		}
	}
	if payload.Name.Space == nsPing && payload.Name.Local == "ping" {
		// XEP-0199: anyone may ping us, the server included.
		return sendReply(t, iq.Result(nil))
	}
	if payload.Name.Space == nsBytestreams || payload.Name.Space == nsIBB {
		return s.onStreamIQ(t, d, iq, &payload)
	}
	if payload.Name.Space != NS {
		return nil
	}
	if iq.From.Equal(jid.JID{}) || !s.allowed(iq.From) {
		// Not a peer: no answer beyond the session's service-unavailable.
		s.log.Warn("xmpp: latus IQ from a JID that is not an allowed peer dropped", "from", iq.From, "payload", payload.Name.Local)
		return nil
	}
	if err := s.checkDevice(iq.From); err != nil {
		s.refuse(deviceOf(iq.From), iq.From, err)
		return sendReply(t, iq.Error(stanza.Error{Type: stanza.Auth, Condition: stanza.Forbidden}))
	}
	var reply xml.TokenReader
	switch payload.Name.Local {
	case "notify":
		reply, err = s.answerNotify(d, &payload, iq.From)
	case "keep":
		err = s.answerKeep(d, &payload, iq.From)
	case "kept":
		err = s.answerKept(d, &payload, iq.From)
	case "devices":
		err = s.answerDevices(d, &payload, iq.From)
	case "dial":
		reply, err = s.answerDial(d, &payload)
	default:
		err = stanza.Error{Type: stanza.Cancel, Condition: stanza.FeatureNotImplemented}
	}
	return s.reply(t, iq, payload.Name.Local, reply, err)
}

// reply answers iq: its result with payload r, or the stanza error err
// maps to (bad-request for a malformed payload, which is logged).
func (s *Swarm) reply(t xmlstream.TokenReadEncoder, iq stanza.IQ, what string, r xml.TokenReader, err error) error {
	if err != nil {
		var se stanza.Error
		if !errors.As(err, &se) {
			s.log.Warn("xmpp: bad IQ from a peer", "from", iq.From, "payload", what, "err", err)
			se = stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest}
		}
		return sendReply(t, iq.Error(se))
	}
	return sendReply(t, iq.Result(r))
}

// onStreamIQ takes bytestream IQs (XEP-0065 offers, XEP-0047 streams):
// only from an online device of an allowed account, whose fingerprint
// the data channel will then check.
func (s *Swarm) onStreamIQ(t xmlstream.TokenReadEncoder, d *xml.Decoder, iq stanza.IQ, payload *xml.StartElement) error {
	if iq.Type != stanza.SetIQ {
		return nil
	}
	p := s.peerByJID(iq.From)
	if p == nil || s.checkDevice(iq.From) != nil {
		// Peers are added only for approved devices; a removal since
		// drops it here too, before the channel's own certificate check.
		s.log.Warn("xmpp: bytestream IQ from a JID that is not an online peer refused", "from", iq.From, "payload", payload.Name.Local)
		return sendReply(t, iq.Error(stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAcceptable}))
	}
	var (
		r   xml.TokenReader
		err error
	)
	if payload.Name.Space == nsIBB {
		err = s.answerIBB(iq, d, payload, p)
	} else {
		r, err = s.answerStreamOffer(iq, d, payload, p)
	}
	return s.reply(t, iq, payload.Name.Local, r, err)
}

func (s *Swarm) answerNotify(d *xml.Decoder, start *xml.StartElement, from jid.JID) (xml.TokenReader, error) {
	var q notifyQuery
	if err := d.DecodeElement(&q, start); err != nil {
		return nil, err
	}
	if p := s.peerByJID(from); p != nil {
		// A notify only moves forward: one sent before the pull that
		// already brought its versions must not look like a restore.
		for cur := p.seq.Load(); q.Seq > cur && !p.seq.CompareAndSwap(cur, q.Seq); cur = p.seq.Load() {
		}
		p.poke(p.pullCh)
	}
	return nil, nil
}

func (s *Swarm) answerDial(d *xml.Decoder, start *xml.StartElement) (xml.TokenReader, error) {
	var q dialPayload
	if err := d.DecodeElement(&q, start); err != nil {
		return nil, err
	}
	return xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: NS, Local: "dial"}, Attr: []xml.Attr{attr("addrs", joinAddrs(s.dataAddrs()))}}), nil
}

// readStored is Store.ReadStored, corrupted on purpose by the test hook.
func (s *Swarm) readStored(id chunks.ID) (chunks.Codec, []byte, error) {
	c, b, err := s.opts.Store.ReadStored(id)
	if err == nil && s.tune.corruptServe && len(b) > 0 {
		b = append([]byte(nil), b...)
		b[len(b)/2] ^= 0xff
	}
	return c, b, err
}

func sendReply(t xmlstream.TokenReadEncoder, r xml.TokenReader) error {
	_, err := xmlstream.Copy(t, r)
	return err
}
