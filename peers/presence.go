package peers

import (
	"context"
	"encoding/xml"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/uberan/latus/internal/devices"
)

// peer is one available device and the goroutine that talks to it. It
// lives from the device's available presence to its unavailable one (or
// the end of the session).
type peer struct {
	device      string
	jid         jid.JID
	fingerprint string
	announced   string // data channel addresses in its presence (wire form)

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	pullCh   chan struct{} // it has a new sequence: pull its index
	notifyCh chan struct{} // we have a new sequence: tell it
	// seq is the newest index position it announced (presence, notify).
	// Below the position we merged up to, its index was restored from an
	// older copy: the next pull starts over (seen versions are skipped).
	seq atomic.Uint64

	served atomic.Int64 // chunks it served us, for Sources order
	failed atomic.Int64

	recv meter // bytes of chunks and index pages it sent us

	dialMu    sync.Mutex // one data-channel dial at a time
	mu        sync.Mutex // guards addrs, dc and dialAfter
	addrs     []string   // direct data channel addresses (announced, or asked with dial)
	dc        *dataConn
	dialAfter time.Time // no data-channel dial before this (after every transport failed)
}

func (p *peer) poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (p *peer) score() int64 { return p.served.Load() - 4*p.failed.Load() }

type presenceStanza struct {
	XMLName xml.Name         `xml:"presence"`
	From    string           `xml:"from,attr"`
	Type    string           `xml:"type,attr"`
	Latus   *presencePayload `xml:"urn:latus:0 latus"`
}

// onPresence tracks devices coming and going. It runs inside the session's
// handler, so it never waits for a peer goroutine.
func (s *Swarm) onPresence(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	var p presenceStanza
	if err := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), t)).Decode(&p); err != nil {
		s.log.Debug("xmpp: undecodable presence dropped", "err", err)
		return nil
	}
	if p.From == "" {
		return nil // our own bare JID: the server echoing the account
	}
	from, err := jid.Parse(p.From)
	if err != nil || from.Resourcepart() == "" {
		return nil
	}
	if !s.allowed(from) {
		s.log.Warn("xmpp: presence from a JID that is not an allowed peer dropped", "from", from)
		return nil
	}
	if from.Equal(s.fullJID()) {
		return nil
	}
	switch p.Type {
	case "", "available":
	case "unavailable":
		s.removePeer(from)
		return nil
	default:
		return nil
	}
	if p.Latus == nil {
		return nil // not a Latus client
	}
	if err := p.Latus.validate(); err != nil {
		s.log.Warn("xmpp: invalid latus presence dropped", "from", from, "err", err)
		return nil
	}
	if from.Resourcepart() != "latus-"+p.Latus.Device || p.Latus.Device == s.id.Device {
		s.log.Warn("xmpp: latus presence with a mismatched resource dropped", "from", from, "device", p.Latus.Device)
		return nil
	}
	if _, err := s.known.Admit(p.Latus.Device, from.Bare().String(), p.Latus.Fingerprint); errors.Is(err, devices.ErrTakenOver) || errors.Is(err, devices.ErrFull) {
		s.log.Warn("xmpp: presence refused: device id bound to another account or certificate", "from", from, "err", err)
		return nil
	} else if err != nil {
		s.log.Warn("xmpp: known devices", "err", err)
	}
	isNew := s.addPeer(from, *p.Latus)
	if isNew && s.opts.OnOnline != nil {
		s.opts.OnOnline(p.Latus.Device)
	}
	// A device of another account learns of us only by directed presence:
	// answer a new one with ours (RFC 6121 §4.6).
	if isNew && !from.Bare().Equal(s.bare) {
		_, err := xmlstream.Copy(t, stanza.Presence{To: from}.Wrap(s.presence().tokens()))
		return err
	}
	return nil
}

func (s *Swarm) fullJID() jid.JID {
	j, _ := s.bare.WithResource(s.resource)
	return j
}

func (s *Swarm) allowed(j jid.JID) bool { return s.allow[j.Bare().String()] }

// addPeer records an available device and starts its goroutine; a device
// already known just gets a pull (its sequence may have moved). It
// reports whether the device is new.
func (s *Swarm) addPeer(from jid.JID, lp presencePayload) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.sessCtx == nil {
		return false
	}
	if old := s.peers[lp.Device]; old != nil {
		if old.jid.Equal(from) && old.fingerprint == lp.Fingerprint && old.announced == lp.Addrs {
			old.seq.Store(lp.Seq)
			old.poke(old.pullCh)
			return false
		}
		s.stopPeerLocked(old)
	}
	ctx, cancel := context.WithCancel(s.sessCtx)
	p := &peer{
		device: lp.Device, jid: from, fingerprint: lp.Fingerprint, announced: lp.Addrs,
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
		pullCh: make(chan struct{}, 1), notifyCh: make(chan struct{}, 1),
	}
	p.seq.Store(lp.Seq)
	s.peers[p.device] = p
	s.byJID[from.String()] = p
	p.addrs, _ = parseAddrs(lp.Addrs) // validated with the presence
	s.seen[p.device] = DeviceStatus{Device: p.device, JID: from.String(), Online: true, DataAddr: p.announced}
	s.log.Info("peer available", "peer", p.device, "jid", from, "addr", p.announced)
	s.wg.Add(1)
	go s.runPeer(p)
	return true
}

func (s *Swarm) removePeer(from jid.JID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.byJID[from.String()]; p != nil {
		s.log.Info("peer unavailable", "peer", p.device)
		s.stopPeerLocked(p)
	}
}

// stopPeerLocked ends p's goroutine without waiting for it (the caller
// may be the session handler that p's in-flight IQ needs).
func (s *Swarm) stopPeerLocked(p *peer) {
	p.cancel()
	delete(s.peers, p.device)
	delete(s.byJID, p.jid.String())
	if d, ok := s.seen[p.device]; ok {
		d.Online = false
		s.seen[p.device] = d
	}
	p.mu.Lock()
	if p.dc != nil {
		p.dc.close()
		p.dc = nil
	}
	p.mu.Unlock()
	if s.data != nil {
		s.data.closeFrom(p.fingerprint)
	}
}

func (s *Swarm) dropAllPeers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.peers {
		s.stopPeerLocked(p)
	}
}

// peerByJID returns the online device at full JID from, or nil.
func (s *Swarm) peerByJID(from jid.JID) *peer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byJID[from.String()]
}

// trusted reports whether fp is the fingerprint of an online allowed device.
func (s *Swarm) trusted(fp string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.peers {
		if p.fingerprint == fp {
			return true
		}
	}
	return false
}

// runPeer is the device's goroutine: it pulls the device's index when it
// comes online and when told of a new sequence, and tells it of ours.
func (s *Swarm) runPeer(p *peer) {
	defer s.wg.Done()
	defer close(p.done)
	retry := time.NewTimer(0) // the first pull happens at once
	defer retry.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-retry.C:
			p.poke(p.pullCh)
		case <-p.pullCh:
			if err := s.pull(p); err != nil && p.ctx.Err() == nil {
				s.log.Warn("sync: pull failed; retrying", "peer", p.device, "err", err)
				retry.Reset(time.Second)
			}
		case <-p.notifyCh:
			if err := s.sendNotify(p); err != nil && p.ctx.Err() == nil {
				s.log.Debug("sync: notify failed", "peer", p.device, "err", err)
			}
		}
	}
}
