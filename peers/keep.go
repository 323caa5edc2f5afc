package peers

import (
	"context"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"strconv"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/engine"
)

// Keeper answers another device's request to keep chunks; engine.Engine
// implements it.
type Keeper interface {
	HandleKeep(ctx context.Context, from string, req engine.KeepRequest) []engine.KeepAnswer
}

// maxKeepsInFlight bounds the keep requests answered at once; more are
// told to wait.
const maxKeepsInFlight = 4

// keepQuery is <keep xmlns='urn:latus:0' release='bool' nonce='hex'><c id=… size=…/>…</keep>.
type keepQuery struct {
	XMLName xml.Name  `xml:"urn:latus:0 keep"`
	Release bool      `xml:"release,attr"`
	Nonce   string    `xml:"nonce,attr"`
	Chunks  []keepRef `xml:"c"`
}

type keepRef struct {
	ID    string `xml:"id,attr"`
	Size  int64  `xml:"size,attr"`
	Code  string `xml:"code,attr,omitempty"`
	Proof string `xml:"proof,attr,omitempty"`
}

// keepCodes is the wire table of engine.KeepCode.
var keepCodes = map[engine.KeepCode]string{
	engine.KeepOK: "ok", engine.KeepFull: "full", engine.KeepBusy: "busy",
	engine.KeepMissing: "missing", engine.KeepFailed: "failed",
}

func parseKeepCode(s string) engine.KeepCode {
	for c, name := range keepCodes {
		if name == s {
			return c
		}
	}
	return engine.KeepFailed
}

// request checks a keep query and turns it into the engine's form.
func (q keepQuery) request() (engine.KeepRequest, error) {
	var req engine.KeepRequest
	if len(q.Chunks) == 0 || len(q.Chunks) > engine.MaxKeepChunks {
		return req, fmt.Errorf("keep: %d chunks: %w", len(q.Chunks), ErrProtocol)
	}
	nonce, err := hex.DecodeString(q.Nonce)
	if err != nil || len(nonce) != len(req.Nonce) {
		return req, fmt.Errorf("keep: bad nonce: %w", ErrProtocol)
	}
	copy(req.Nonce[:], nonce)
	req.Release = q.Release
	for _, c := range q.Chunks {
		id, err := chunks.ParseID(c.ID)
		if err != nil {
			return req, fmt.Errorf("keep: %v: %w", err, ErrProtocol)
		}
		if c.Size < 0 || c.Size > maxStored {
			return req, fmt.Errorf("keep: chunk size %d: %w", c.Size, ErrProtocol)
		}
		req.Chunks = append(req.Chunks, engine.KeepChunk{ID: id, Size: c.Size})
	}
	return req, nil
}

func keepRequestTokens(req engine.KeepRequest) xml.TokenReader {
	var inner []xml.TokenReader
	for _, c := range req.Chunks {
		inner = append(inner, element("c", []xml.Attr{attr("id", c.ID.String()), attr("size", strconv.FormatInt(c.Size, 10))}, nil))
	}
	return xmlstream.Wrap(xmlstream.MultiReader(inner...), xml.StartElement{
		Name: xml.Name{Space: NS, Local: "keep"},
		Attr: []xml.Attr{attr("release", strconv.FormatBool(req.Release)), attr("nonce", hex.EncodeToString(req.Nonce[:]))},
	})
}

func answerRefs(as []engine.KeepAnswer) xml.TokenReader {
	var inner []xml.TokenReader
	for _, a := range as {
		attrs := []xml.Attr{attr("id", a.ID.String()), attr("code", keepCodes[a.Code])}
		if a.Code == engine.KeepOK {
			attrs = append(attrs, attr("proof", hex.EncodeToString(a.Proof[:])))
		}
		inner = append(inner, element("c", attrs, nil))
	}
	return xmlstream.MultiReader(inner...)
}

// answers decodes a keep answer; ids not parsed are dropped (the engine
// treats unanswered chunks as refused).
func (q keepQuery) answers() ([]engine.KeepAnswer, error) {
	if len(q.Chunks) > engine.MaxKeepChunks {
		return nil, fmt.Errorf("keep answer: %d chunks: %w", len(q.Chunks), ErrProtocol)
	}
	out := make([]engine.KeepAnswer, 0, len(q.Chunks))
	for _, c := range q.Chunks {
		id, err := chunks.ParseID(c.ID)
		if err != nil {
			continue
		}
		a := engine.KeepAnswer{ID: id, Code: parseKeepCode(c.Code)}
		if a.Code == engine.KeepOK {
			p, err := hex.DecodeString(c.Proof)
			if err != nil || len(p) != len(a.Proof) {
				a.Code = engine.KeepFailed
			} else {
				copy(a.Proof[:], p)
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// answerKeep checks a keep request, accepts it with an empty result and
// works on it in a goroutine of its own (keeping may fetch the chunks
// first); the answers go back to the asker in a kept IQ under the
// request's nonce. An error is answered at once.
func (s *Swarm) answerKeep(d *xml.Decoder, start *xml.StartElement, from jid.JID) error {
	var q keepQuery
	if err := d.DecodeElement(&q, start); err != nil {
		return err
	}
	req, err := q.request()
	if err != nil {
		return err
	}
	p := s.peerByJID(from)
	if p == nil || s.opts.Keeper == nil {
		return stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAcceptable}
	}
	select {
	case s.keeps <- struct{}{}:
	default:
		return stanza.Error{Type: stanza.Wait, Condition: stanza.ResourceConstraint}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.keeps }()
		ctx, cancel := context.WithTimeout(p.ctx, s.tune.keepTimeout)
		defer cancel()
		answers := s.opts.Keeper.HandleKeep(ctx, p.device, req)
		if err := s.sendIQ(p.ctx, p.jid, stanza.SetIQ, keptTokens(req.Nonce, answers), nil); err != nil {
			s.log.Debug("keep: answer", "peer", p.device, "err", err)
		}
	}()
	return nil
}

func keptTokens(nonce chunks.Nonce, as []engine.KeepAnswer) xml.TokenReader {
	return xmlstream.Wrap(answerRefs(as), xml.StartElement{
		Name: xml.Name{Space: NS, Local: "kept"},
		Attr: []xml.Attr{attr("nonce", hex.EncodeToString(nonce[:]))},
	})
}

// keptQuery is the answer to a keep request: <kept nonce=…><c id code proof/>…</kept>.
type keptQuery struct {
	XMLName xml.Name  `xml:"urn:latus:0 kept"`
	Nonce   string    `xml:"nonce,attr"`
	Chunks  []keepRef `xml:"c"`
}

// pendingKeep is a keep request waiting for its kept answer.
type pendingKeep struct {
	device string
	ch     chan []engine.KeepAnswer // buffered 1
}

// answerKept hands a kept answer to the Keep call waiting for it; answers
// from any other device than the one asked, or for no pending request,
// are refused.
func (s *Swarm) answerKept(d *xml.Decoder, start *xml.StartElement, from jid.JID) error {
	var q keptQuery
	if err := d.DecodeElement(&q, start); err != nil {
		return err
	}
	nb, err := hex.DecodeString(q.Nonce)
	var nonce chunks.Nonce
	if err != nil || len(nb) != len(nonce) {
		return fmt.Errorf("kept: bad nonce: %w", ErrProtocol)
	}
	copy(nonce[:], nb)
	as, err := keepQuery{Chunks: q.Chunks}.answers()
	if err != nil {
		return err
	}
	p := s.peerByJID(from)
	s.mu.Lock()
	pk := s.pendingKeeps[nonce]
	if pk != nil && p != nil && pk.device == p.device {
		delete(s.pendingKeeps, nonce)
	} else {
		pk = nil
	}
	s.mu.Unlock()
	if pk == nil {
		return stanza.Error{Type: stanza.Cancel, Condition: stanza.ItemNotFound}
	}
	pk.ch <- as
	return nil
}

// Keep asks an online device to keep chunks (engine.Network).
func (s *Swarm) Keep(ctx context.Context, device string, req engine.KeepRequest) ([]engine.KeepAnswer, error) {
	if len(req.Chunks) == 0 || len(req.Chunks) > engine.MaxKeepChunks {
		return nil, fmt.Errorf("keep: %d chunks in one request: %w", len(req.Chunks), ErrConfig)
	}
	s.mu.Lock()
	p := s.peers[device]
	s.mu.Unlock()
	if p == nil {
		return nil, fmt.Errorf("keep: device %s: %w", device, ErrOffline)
	}
	pk := &pendingKeep{device: device, ch: make(chan []engine.KeepAnswer, 1)}
	s.mu.Lock()
	if s.pendingKeeps[req.Nonce] != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("keep: nonce reused: %w", ErrConfig)
	}
	s.pendingKeeps[req.Nonce] = pk
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pendingKeeps, req.Nonce)
		s.mu.Unlock()
	}()
	if err := s.sendIQ(ctx, p.jid, stanza.SetIQ, keepRequestTokens(req), nil); err != nil {
		return nil, fmt.Errorf("keep: device %s: %w", device, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.tune.keepTimeout)
	defer cancel()
	select {
	case as := <-pk.ch:
		return as, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("keep: device %s did not answer: %w", device, ctx.Err())
	case <-p.ctx.Done():
		return nil, fmt.Errorf("keep: device %s: %w", device, ErrOffline)
	}
}

// Online returns the devices available now (engine.Network).
func (s *Swarm) Online() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.peers))
	for dev := range s.peers {
		out = append(out, dev)
	}
	return out
}
