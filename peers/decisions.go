package peers

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/uberan/latus/internal/devices"
)

// The account's devices keep one registry of decisions (removed and
// approved devices, internal/devices) by passing every decision they hold
// to each device of the own account that comes online, and each new one
// to every device online. A decision is signed by the device that made
// it, so the server and the devices in between can carry it but not forge
// it; a device offline at the time learns it from whichever device it
// meets next.
//
//	<devices xmlns='urn:latus:0'>
//	  <decision device=… account=… fingerprint=… state=removed|approved
//	            at=unix-ns signer=base64-DER sig=base64/>
//	</devices>

const (
	// maxDecisionsPerIQ bounds a devices IQ: a page holds fewer (see
	// decisionPageBytes).
	maxDecisionsPerIQ = 32
	// decisionPageBytes is the encoded size a page of decisions stays
	// under, well within the 16 KiB every Latus stanza keeps to.
	decisionPageBytes = 12 << 10
)

type devicesPayload struct {
	XMLName   xml.Name       `xml:"urn:latus:0 devices"`
	Decisions []decisionElem `xml:"decision"`
}

type decisionElem struct {
	Device      string `xml:"device,attr"`
	Account     string `xml:"account,attr"`
	Fingerprint string `xml:"fingerprint,attr"`
	State       string `xml:"state,attr"`
	At          int64  `xml:"at,attr"`
	Signer      string `xml:"signer,attr"`
	Sig         string `xml:"sig,attr"`
}

func (e decisionElem) decision() (devices.Decision, error) {
	signer, err1 := base64.StdEncoding.DecodeString(e.Signer)
	sig, err2 := base64.StdEncoding.DecodeString(e.Sig)
	if err := errors.Join(err1, err2); err != nil {
		return devices.Decision{}, fmt.Errorf("decision on device %.20q: %v: %w", e.Device, err, ErrProtocol)
	}
	return devices.Decision{Device: e.Device, Account: e.Account, Fingerprint: e.Fingerprint, State: devices.State(e.State),
		At: time.Unix(0, e.At).UTC(), Signer: signer, Sig: sig}, nil
}

func decisionAttrs(d devices.Decision) []xml.Attr {
	return []xml.Attr{
		attr("device", d.Device), attr("account", d.Account), attr("fingerprint", d.Fingerprint),
		attr("state", string(d.State)), attr("at", strconv.FormatInt(d.At.UnixNano(), 10)),
		attr("signer", base64.StdEncoding.EncodeToString(d.Signer)), attr("sig", base64.StdEncoding.EncodeToString(d.Sig)),
	}
}

// decisionPages splits ds into devices payloads each under
// decisionPageBytes encoded and maxDecisionsPerIQ decisions.
func decisionPages(ds []devices.Decision) [][]devices.Decision {
	var pages [][]devices.Decision
	var cur []devices.Decision
	size := 0
	for _, d := range ds {
		n := 0
		for _, a := range decisionAttrs(d) {
			n += len(a.Name.Local) + len(a.Value) + 4
		}
		n += 16
		if len(cur) > 0 && (size+n > decisionPageBytes || len(cur) == maxDecisionsPerIQ) {
			pages = append(pages, cur)
			cur, size = nil, 0
		}
		cur = append(cur, d)
		size += n
	}
	if len(cur) > 0 {
		pages = append(pages, cur)
	}
	return pages
}

func devicesTokens(ds []devices.Decision) xml.TokenReader {
	children := make([]xml.TokenReader, len(ds))
	for i, d := range ds {
		children[i] = xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: "decision"}, Attr: decisionAttrs(d)})
	}
	return xmlstream.Wrap(xmlstream.MultiReader(children...), xml.StartElement{Name: xml.Name{Space: NS, Local: "devices"}})
}

// sendDecisions passes every decision this device holds to p, a device
// of the own account.
func (s *Swarm) sendDecisions(p *peer) error {
	ds := s.known.Decisions()
	slices.SortFunc(ds, func(a, b devices.Decision) int { return cmpString(a.Device, b.Device) })
	for _, page := range decisionPages(ds) {
		if err := s.sendIQ(p.ctx, p.jid, stanza.SetIQ, devicesTokens(page), nil); err != nil {
			return fmt.Errorf("pass device decisions to %s: %w", p.device, err)
		}
	}
	return nil
}

// answerDevices merges the decisions a device of the own account passed
// on, acts on those that changed a device's state, and passes them on.
func (s *Swarm) answerDevices(d *xml.Decoder, start *xml.StartElement, from jid.JID) error {
	if !from.Bare().Equal(s.bare) {
		// Another account's devices do not decide for this one.
		return stanza.Error{Type: stanza.Auth, Condition: stanza.Forbidden}
	}
	var q devicesPayload
	if err := d.DecodeElement(&q, start); err != nil {
		return err
	}
	if len(q.Decisions) > maxDecisionsPerIQ {
		return fmt.Errorf("devices: %d decisions, at most %d: %w", len(q.Decisions), maxDecisionsPerIQ, ErrProtocol)
	}
	ds := make([]devices.Decision, 0, len(q.Decisions))
	for _, e := range q.Decisions {
		dec, err := e.decision()
		if err != nil {
			return err
		}
		ds = append(ds, dec)
	}
	changed, err := s.known.Merge(ds)
	if err != nil {
		s.log.Warn("devices: decisions refused", "from", from, "err", err)
	}
	s.applyDecisions(changed, from.String())
	return nil
}

// applyDecisions acts on decisions that changed a device's state (made
// here or merged) and passes them to the own account's online devices.
func (s *Swarm) applyDecisions(ds []devices.Decision, from string) {
	if len(ds) == 0 {
		return
	}
	for _, d := range ds {
		switch d.State {
		case devices.Removed:
			if d.Device == s.id.Device {
				s.log.Error("devices: this device was removed from the account by another device; the others refuse it from now on", "by", d.SignerFingerprint()[:16])
				continue
			}
			s.log.Warn("devices: device removed; refusing it from now on", "peer", d.Device, "account", d.Account, "by", d.SignerFingerprint()[:16], "via", from)
			s.dropRefused(d.Device)
			if s.opts.OnRemoved != nil {
				s.opts.OnRemoved(d.Device)
			}
		case devices.Approved:
			s.log.Info("devices: device approved", "peer", d.Device, "account", d.Account, "by", d.SignerFingerprint()[:16], "via", from)
			s.admitWaiting(d.Device)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.peers {
		if p.jid.Bare().Equal(s.bare) && p.jid.String() != from {
			p.poke(p.decisionsCh)
		}
	}
}

// RemoveDevice revokes device for good on this device and on every device
// of the account as the decision reaches them: its IQs, presence and
// data-channel connections are refused, and the engine stops counting it
// as a keeper (Options.OnRemoved). It returns devices.ErrSelf for this
// device and devices.ErrUnknown for an id never met.
func (s *Swarm) RemoveDevice(device string) error {
	d, err := s.known.Remove(device)
	if err != nil {
		return err
	}
	s.applyDecisions([]devices.Decision{d}, "")
	return nil
}

// ApproveDevice lets a pending device in (Config.RequireApproval), here
// and on the account's other devices as the decision reaches them.
func (s *Swarm) ApproveDevice(device string) error {
	d, err := s.known.Approve(device)
	if err != nil {
		return err
	}
	s.applyDecisions([]devices.Decision{d}, "")
	return nil
}

// KnownDevice is one device of the registry as Known reports it.
type KnownDevice struct {
	devices.Record
	Online    bool   // a presence of it is current (served or refused)
	Transport string // what carries its data channel ("direct ADDR", "relay PROXY-JID", "in-band"); "" when none
}

// Known lists the registry's devices with whether they are online now.
func (s *Swarm) Known() []KnownDevice {
	recs := s.known.List()
	out := make([]KnownDevice, len(recs))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range recs {
		out[i].Record = r
		if p := s.peers[r.Device]; p != nil {
			out[i].Online = true
			p.mu.Lock()
			if p.dc != nil && p.dc.alive() {
				out[i].Transport = p.dc.transport
			}
			p.mu.Unlock()
		} else if _, ok := s.waiting[r.Device]; ok {
			out[i].Online = true
		}
	}
	return out
}
