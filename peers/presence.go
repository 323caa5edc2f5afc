package peers

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/uberan/latus/internal/devices"
	"github.com/uberan/latus/meta"
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

	pullCh      chan struct{} // it has a new sequence: pull its index
	notifyCh    chan struct{} // we have a new sequence: tell it
	decisionsCh chan struct{} // pass it our device decisions (own account only)
	// seq is the newest index position it announced (presence, notify).
	// Below the position we merged up to, its index was restored from an
	// older copy: the next pull starts over (seen versions are skipped).
	seq atomic.Uint64
	// epoch is the meta.Epoch of its index it announced: a new one means
	// it reopened its index, perhaps restored (meta.DB.PullFrom).
	epoch meta.Epoch

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
		s.mu.Lock()
		if w, ok := s.waiting[deviceOf(from)]; ok && w.jid.Equal(from) {
			delete(s.waiting, deviceOf(from))
		}
		s.mu.Unlock()
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
	if _, err := s.known.Admit(p.Latus.Device, from.Bare().String(), p.Latus.Fingerprint, p.Latus.Name); err != nil {
		switch {
		case errors.Is(err, devices.ErrRemoved), errors.Is(err, devices.ErrPending):
			s.refuse(p.Latus.Device, from, err)
			s.mu.Lock()
			s.waiting[p.Latus.Device] = waitingPeer{jid: from, payload: *p.Latus}
			if old := s.peers[p.Latus.Device]; old != nil {
				s.stopPeerLocked(old)
			}
			s.mu.Unlock()
			return nil
		case errors.Is(err, devices.ErrTakenOver), errors.Is(err, devices.ErrFull):
			s.refuse(p.Latus.Device, from, err)
			return nil
		}
		s.log.Warn("devices: known devices", "err", err)
	}
	// A device of another account learns of us only by directed presence:
	// answer a new one with ours (RFC 6121 §4.6), before our first IQ to it.
	if !from.Bare().Equal(s.bare) && !s.isPeer(p.Latus.Device) {
		if _, err := xmlstream.Copy(t, stanza.Presence{To: from}.Wrap(s.presence().tokens())); err != nil {
			return err
		}
	}
	if s.addPeer(from, *p.Latus) && s.opts.OnOnline != nil {
		s.opts.OnOnline(p.Latus.Device)
	}
	return nil
}

// waitingPeer is the last presence of a device refused as pending or
// removed: approving it admits the device at once.
type waitingPeer struct {
	jid     jid.JID
	payload presencePayload
}

// refuse logs a refused device once per kind of refusal, not on every
// stanza it sends.
func (s *Swarm) refuse(device string, from jid.JID, err error) {
	if !s.known.FirstRefusal(device, err) {
		return
	}
	switch {
	case errors.Is(err, devices.ErrPending):
		s.log.Warn("devices: refused a device waiting for approval; \"latus devices approve "+device+"\" lets it in", "peer", device, "from", from)
	case errors.Is(err, devices.ErrRemoved):
		s.log.Warn("devices: refused a removed device", "peer", device, "from", from)
	default:
		s.log.Warn("devices: refused a device", "peer", device, "from", from, "err", err)
	}
}

// checkDevice reports whether the sender of a Latus IQ is a device that
// may be served: an approved device bound to the sender's account.
func (s *Swarm) checkDevice(from jid.JID) error {
	dev := deviceOf(from)
	if dev == "" {
		return fmt.Errorf("resource %q is not a Latus device: %w", from.Resourcepart(), devices.ErrUnknown)
	}
	return s.known.Check(dev, from.Bare().String())
}

// deviceOf is the device id in a Latus resource (latus-<device>), or "".
func deviceOf(j jid.JID) string {
	dev, ok := strings.CutPrefix(j.Resourcepart(), "latus-")
	if !ok {
		return ""
	}
	return dev
}

func (s *Swarm) isPeer(device string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peers[device] != nil
}

// dropRefused ends everything of a device that was just removed: its peer
// goroutine and its data connections.
func (s *Swarm) dropRefused(device string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.peers[device]; p != nil {
		s.stopPeerLocked(p)
		// Still present, now refused: listed as online.
		s.waiting[device] = waitingPeer{jid: p.jid, payload: presencePayload{Device: p.device, Fingerprint: p.fingerprint, Seq: p.seq.Load(), Addrs: p.announced}}
	}
	if rec, ok := s.known.Lookup(device); ok && s.data != nil {
		s.data.closeFrom(rec.Fingerprint)
	}
}

// admitWaiting makes a device approved while it was present a peer.
func (s *Swarm) admitWaiting(device string) {
	s.mu.Lock()
	w, ok := s.waiting[device]
	delete(s.waiting, device)
	s.mu.Unlock()
	if !ok || !s.addPeer(w.jid, w.payload) {
		return
	}
	if s.opts.OnOnline != nil {
		s.opts.OnOnline(device)
	}
	s.mu.Lock()
	if p := s.peers[device]; p != nil {
		p.poke(p.notifyCh) // it backed off after our refusals: pull now
	}
	s.mu.Unlock()
}

// refusedRetry is how long a device waits before asking again a device
// that refused it (forbidden): approval may come, removal never goes.
const refusedRetry = 30 * time.Second

// isForbidden reports whether err is an IQ error answer "forbidden": how
// a device refuses the IQs of a device it does not serve.
func isForbidden(err error) bool {
	var se stanza.Error
	return errors.As(err, &se) && se.Condition == stanza.Forbidden
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
		if old.jid.Equal(from) && old.fingerprint == lp.Fingerprint && old.announced == lp.Addrs && old.epoch.ID == lp.Epoch {
			old.seq.Store(lp.Seq)
			old.poke(old.pullCh)
			return false
		}
		s.stopPeerLocked(old)
	}
	ctx, cancel := context.WithCancel(s.sessCtx)
	p := &peer{
		device: lp.Device, jid: from, fingerprint: lp.Fingerprint, announced: lp.Addrs, epoch: meta.Epoch{ID: lp.Epoch, Base: lp.Base},
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
		pullCh: make(chan struct{}, 1), notifyCh: make(chan struct{}, 1), decisionsCh: make(chan struct{}, 1),
	}
	p.seq.Store(lp.Seq)
	if from.Bare().Equal(s.bare) {
		p.poke(p.decisionsCh) // it may have missed removals and approvals
	}
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

// trusted reports whether fp is the fingerprint of an online allowed
// device that the registry lets in (the data channel's check).
func (s *Swarm) trusted(fp string) bool {
	if !s.known.Trusted(fp) {
		return false
	}
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
	refusedUs := false // it answers forbidden: it removed this device, or waits to approve it
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-retry.C:
			p.poke(p.pullCh)
		case <-p.pullCh:
			err := s.pull(p)
			switch {
			case err == nil || p.ctx.Err() != nil:
				refusedUs = false
			case isForbidden(err):
				if !refusedUs {
					s.log.Warn("devices: a device refuses this one: it removed it, or waits to approve it (\"latus devices approve "+s.id.Device+"\" there)", "peer", p.device)
				}
				refusedUs = true
				retry.Reset(refusedRetry)
			default:
				s.log.Warn("sync: pull failed; retrying", "peer", p.device, "err", err)
				retry.Reset(time.Second)
			}
		case <-p.notifyCh:
			if err := s.sendNotify(p); err != nil && p.ctx.Err() == nil {
				s.log.Debug("sync: notify failed", "peer", p.device, "err", err)
			}
		case <-p.decisionsCh:
			if err := s.sendDecisions(p); err != nil && p.ctx.Err() == nil {
				s.log.Warn("devices: passing decisions on failed", "peer", p.device, "err", err)
			}
		}
	}
}
