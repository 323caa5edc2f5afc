package peers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/ping"
	"mellium.im/xmpp/stanza"

	"github.com/uberan/latus/internal/identity"
)

const nsBind = "urn:ietf:params:xml:ns:xmpp-bind"

// tuning holds the timings of a Swarm; tests shorten them.
type tuning struct {
	minBackoff, maxBackoff time.Duration
	pingEvery, pingTimeout time.Duration
	loginTimeout           time.Duration
	iqTimeout              time.Duration
	keepTimeout            time.Duration // a keep request may fetch its chunks first
	trustWait              time.Duration // how long the data channel waits for an unknown fingerprint's presence
	dialRetry              time.Duration // after every transport failed, no new data channel this long
	dialStagger            time.Duration // a data-channel address's head start over the next
	directTimeout          time.Duration // for direct TCP to any address, before the relay is tried

	interfaceAddrs func() ([]net.Addr, error) // net.InterfaceAddrs; tests replace it
	dataAddrs      func() []string            // replaces the announced addresses (tests of changes)
	resolver       *net.Resolver              // finds the server's SRV records; nil = the system's

	// test hooks
	announceFingerprint string // announce this instead of the real fingerprint
	corruptServe        bool   // flip a byte of every chunk served
	noDirect            bool   // never dial a peer directly
	noRelay             bool   // never use the server's bytestream proxy
	noAddrInPresence    bool   // leave addr out of presence (peers ask with dial)
	impersonate         string // announce this fingerprint and the device id it starts with
	latePongs           bool   // keepalive pings never get an answer in time
}

func defaultTuning() tuning {
	return tuning{
		minBackoff: 250 * time.Millisecond, maxBackoff: 30 * time.Second,
		pingEvery: 30 * time.Second, pingTimeout: 10 * time.Second,
		loginTimeout: 15 * time.Second, iqTimeout: 30 * time.Second,
		keepTimeout: 2 * time.Minute, trustWait: 2 * time.Second,
		dialRetry: 30 * time.Second, dialStagger: dialStagger, directTimeout: 5 * time.Second,
		interfaceAddrs: net.InterfaceAddrs,
	}
}

// login dials the server and negotiates StartTLS, SASL (SCRAM-SHA-256
// where offered, else SCRAM-SHA-1 or PLAIN, all Prosody 0.12 offers) and
// the bound resource.
func login(ctx context.Context, cfg Config, resource string, tune *tuning) (*xmpp.Session, error) {
	timeout := tune.loginTimeout
	j, err := jid.Parse(cfg.JID)
	if err != nil || j.Localpart() == "" {
		return nil, fmt.Errorf("JID %q: want user@host: %w", cfg.JID, ErrConfig)
	}
	j = j.Bare()
	full, err := j.WithResource(resource)
	if err != nil {
		return nil, fmt.Errorf("resource %q: %w", resource, ErrConfig)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, addr, err := dialServer(ctx, cfg, j, tune.resolver)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %v: %w", addr, err, ErrUnreachable)
	}
	tlsCfg := &tls.Config{ServerName: j.Domainpart(), InsecureSkipVerify: cfg.Insecure, MinVersion: tls.VersionTLS12}
	sess, err := xmpp.NewClientSession(ctx, full, conn,
		wrapFeature(xmpp.StartTLS(tlsCfg), classifyTLS),
		wrapFeature(xmpp.SASL("", cfg.Password, sasl.ScramSha256, sasl.ScramSha1, sasl.Plain), classifySASL),
		bindResource(resource),
	)
	if err != nil {
		conn.Close()
		// The TLS handshake runs lazily, so its failure can surface after
		// the StartTLS feature, when the stream restarts.
		err = classifyTLS(err)
		if errors.Is(err, ErrAuth) || errors.Is(err, ErrUntrustedServer) {
			return nil, fmt.Errorf("log in as %s at %s: %w", full, addr, err)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("log in as %s at %s: no answer within %v: %w", full, addr, timeout, ErrUnreachable)
		}
		return nil, fmt.Errorf("log in as %s at %s: %w", full, addr, err)
	}
	return sess, nil
}

func wrapFeature(f xmpp.StreamFeature, classify func(error) error) xmpp.StreamFeature {
	negotiate := f.Negotiate
	f.Negotiate = func(ctx context.Context, s *xmpp.Session, data any) (xmpp.SessionState, io.ReadWriter, error) {
		st, rw, err := negotiate(ctx, s, data)
		if err != nil {
			err = classify(err)
		}
		return st, rw, err
	}
	return f
}

func classifyTLS(err error) error {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	if errors.Is(err, ErrUntrustedServer) {
		return err
	}
	if errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid) || errors.As(err, &verify) {
		return fmt.Errorf("%v: %w", err, ErrUntrustedServer)
	}
	return err
}

func classifySASL(err error) error {
	var se stanza.Error
	if errors.As(err, &se) {
		return err
	}
	// Any SASL <failure/> (not-authorized, account-disabled, …) ends here.
	return fmt.Errorf("%v: %w", err, ErrAuth)
}

// bindResource binds the requested resource (RFC 6120 §7). mellium's
// BindResource sends an empty <resource/>, so the server would pick one.
func bindResource(resource string) xmpp.StreamFeature {
	f := xmpp.BindResource()
	f.Negotiate = func(ctx context.Context, s *xmpp.Session, _ any) (xmpp.SessionState, io.ReadWriter, error) {
		w := s.TokenWriter()
		defer w.Close()
		r := s.TokenReader()
		defer r.Close()
		const id = "latus-bind"
		req := stanza.IQ{ID: id, Type: stanza.SetIQ}.Wrap(xmlstream.Wrap(
			xmlstream.Wrap(xmlstream.Token(xml.CharData(resource)), xml.StartElement{Name: xml.Name{Local: "resource"}}),
			xml.StartElement{Name: xml.Name{Space: nsBind, Local: "bind"}},
		))
		if _, err := xmlstream.Copy(w, req); err != nil {
			return 0, nil, err
		}
		if err := w.Flush(); err != nil {
			return 0, nil, err
		}
		d := xml.NewTokenDecoder(r)
		var resp struct {
			stanza.IQ
			Bind struct {
				JID string `xml:"jid"`
			} `xml:"urn:ietf:params:xml:ns:xmpp-bind bind"`
			Err *stanza.Error `xml:"error"`
		}
		for {
			tok, err := d.Token()
			if err != nil {
				return 0, nil, fmt.Errorf("bind: %w", err)
			}
			start, ok := tok.(xml.StartElement)
			if !ok {
				continue
			}
			if err := d.DecodeElement(&resp, &start); err != nil {
				return 0, nil, fmt.Errorf("bind: %w", err)
			}
			break
		}
		switch {
		case resp.ID != id:
			return 0, nil, fmt.Errorf("bind: answer to %q: %w", resp.ID, ErrProtocol)
		case resp.Type == stanza.ErrorIQ && resp.Err != nil:
			return 0, nil, fmt.Errorf("bind resource %q: %w", resource, *resp.Err)
		case resp.Type != stanza.ResultIQ:
			return 0, nil, fmt.Errorf("bind: answer of type %q: %w", resp.Type, ErrProtocol)
		}
		bound, err := jid.Parse(resp.Bind.JID)
		if err != nil {
			return 0, nil, fmt.Errorf("bind: bound JID %q: %w", resp.Bind.JID, err)
		}
		if bound.Resourcepart() != resource {
			return 0, nil, fmt.Errorf("bind: server bound %q instead of %q: %w", bound.Resourcepart(), resource, ErrProtocol)
		}
		s.UpdateAddr(bound)
		return xmpp.Ready, nil, nil
	}
	return f
}

// run owns the connection: it serves the session until it ends, then logs
// in again with capped exponential backoff, until the swarm closes.
func (s *Swarm) run(sess *xmpp.Session) {
	defer s.wg.Done()
	backoff := s.tune.minBackoff
	for {
		if sess != nil { // nil: Start found the server unreachable
			s.serve(sess)
		}
		if s.ctx.Err() != nil {
			return
		}
		for {
			// Full jitter keeps devices of one account from reconnecting in step.
			wait := backoff/2 + time.Duration(rand.Int64N(int64(backoff/2)+1))
			s.log.Info("xmpp: disconnected; reconnecting", "in", wait)
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(wait):
			}
			var err error
			sess, err = login(s.ctx, s.opts.Config, s.resource, &s.tune)
			if err == nil {
				backoff = s.tune.minBackoff
				s.log.Info("xmpp: reconnected", "jid", sess.LocalAddr())
				break
			}
			s.log.Warn("xmpp: reconnect failed", "err", err)
			backoff = min(backoff*2, s.tune.maxBackoff)
		}
	}
}

// serve runs one session: presence out, stanzas in, keepalive pings; it
// returns when the session ends (server gone, ping unanswered, or Close).
func (s *Swarm) serve(sess *xmpp.Session) {
	sctx, cancel := context.WithCancel(s.ctx)
	s.mu.Lock()
	s.sess, s.sessCtx = sess, sctx
	s.mu.Unlock()

	served := make(chan error, 1)
	go func() {
		served <- sess.Serve(xmpp.HandlerFunc(func(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
			s.lastRecv.Store(time.Now().UnixNano())
			return s.handle(t, start)
		}))
	}()

	pinger := make(chan struct{})
	go func() {
		defer close(pinger)
		s.keepalive(sctx, sess)
	}()
	if err := s.sendPresence(sctx, sess); err != nil {
		s.log.Warn("xmpp: send presence", "err", err)
		sess.Conn().Close()
	}

	select {
	case err := <-served:
		if err != nil && s.ctx.Err() == nil {
			s.log.Warn("xmpp: session ended", "err", err)
		}
	case <-s.ctx.Done():
		// Closing the stream makes the server announce us unavailable;
		// closing the socket then ends Serve without waiting for it.
		uctx, ucancel := context.WithTimeout(context.Background(), time.Second)
		_ = sess.Send(uctx, stanza.Presence{Type: stanza.UnavailablePresence}.Wrap(nil))
		ucancel()
		sess.Close()
		sess.Conn().Close()
		<-served
	}
	sess.Conn().Close()
	cancel()
	<-pinger
	s.mu.Lock()
	s.sess, s.sessCtx = nil, nil
	s.mu.Unlock()
	s.dropAllPeers()
	s.ibb.closeAll()
}

// keepalive pings the server (XEP-0199); an unanswered ping means the
// server is frozen or the path is dead, so the connection is dropped. It
// also announces the data channel again when the interfaces' addresses
// changed (a laptop moved to another network).
func (s *Swarm) keepalive(ctx context.Context, sess *xmpp.Session) {
	t := time.NewTicker(s.tune.pingEvery)
	defer t.Stop()
	server := sess.LocalAddr().Domain()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sent := time.Now()
		pctx, cancel := context.WithTimeout(ctx, s.tune.pingTimeout)
		err := s.ping(pctx, sess, server)
		cancel()
		// A late pong while stanzas keep arriving is a busy stream, not a
		// dead server: behind a throttled server (stock mod_limits reads
		// 10 kB/s) the ping queues behind this device's in-band answers.
		if err != nil && ctx.Err() == nil && s.lastRecv.Load() > sent.UnixNano() {
			s.log.Debug("xmpp: keepalive ping late, but stanzas arrive; keeping the connection", "err", err)
		} else if err != nil && ctx.Err() == nil {
			s.log.Warn("xmpp: keepalive ping failed; dropping connection", "err", err)
			sess.Conn().Close()
			return
		}
		s.mu.Lock()
		last := s.announced
		s.mu.Unlock()
		if now := joinAddrs(s.dataAddrs()); err == nil && now != last {
			s.log.Info("data: addresses changed; announcing them", "addrs", now)
			if err := s.sendPresence(ctx, sess); err != nil && ctx.Err() == nil {
				s.log.Warn("xmpp: send presence", "err", err)
			}
		}
	}
}

// sendPresence announces this device to the account's other resources and
// as directed presence to the other allowed accounts.
func (s *Swarm) sendPresence(ctx context.Context, sess *xmpp.Session) error {
	p := s.presence()
	s.mu.Lock()
	s.announced = joinAddrs(s.dataAddrs()) // what p carries, unless a test hook hid it
	s.mu.Unlock()
	if err := sess.Send(ctx, stanza.Presence{}.Wrap(p.tokens())); err != nil {
		return err
	}
	for _, a := range s.allowList {
		if a.Equal(s.bare) {
			continue
		}
		if err := sess.Send(ctx, stanza.Presence{To: a}.Wrap(p.tokens())); err != nil {
			return err
		}
	}
	return nil
}

func (s *Swarm) presence() presencePayload {
	fp := s.id.Fingerprint
	if s.tune.announceFingerprint != "" {
		fp = s.tune.announceFingerprint
	}
	e := s.opts.Meta.Epoch()
	p := presencePayload{Device: s.id.Device, Fingerprint: fp, Seq: s.opts.Meta.IndexSeq(), Epoch: e.ID, Base: e.Base, Addrs: joinAddrs(s.dataAddrs()), Name: s.name}
	if imp := s.tune.impersonate; len(imp) == 64 {
		p.Device, p.Fingerprint = imp[:identity.DeviceLen], imp
	}
	if s.tune.noAddrInPresence {
		p.Addrs = ""
	}
	return p
}

// session returns the live session and a context that ends with it.
func (s *Swarm) session() (*xmpp.Session, context.Context, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		if s.ctx.Err() != nil {
			return nil, nil, ErrClosed
		}
		return nil, nil, fmt.Errorf("not connected: %w", ErrOffline)
	}
	return s.sess, s.sessCtx, nil
}

// sendIQ sends an IQ and decodes the answer's payload into v (v may be
// nil). It gives up when ctx ends, the session ends, or iqTimeout passes.
func (s *Swarm) sendIQ(ctx context.Context, to jid.JID, typ stanza.IQType, payload xml.TokenReader, v any) error {
	return s.sendIQWithin(ctx, s.tune.iqTimeout, to, typ, payload, v)
}

func (s *Swarm) sendIQWithin(ctx context.Context, timeout time.Duration, to jid.JID, typ stanza.IQType, payload xml.TokenReader, v any) error {
	sess, sctx, err := s.session()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stop := context.AfterFunc(sctx, cancel)
	defer stop()
	return sess.UnmarshalIQElement(ctx, payload, stanza.IQ{To: to, Type: typ}, v)
}

// CheckLogin logs in once with cfg and leaves: `latus init` uses it to
// report a wrong password (ErrAuth), an unreachable server
// (ErrUnreachable) or an untrusted server certificate (ErrUntrustedServer)
// before saving a configuration.
func CheckLogin(ctx context.Context, cfg Config) error {
	tune := defaultTuning()
	sess, err := login(ctx, cfg, "latus-check", &tune)
	if err != nil {
		return err
	}
	sess.Close()
	return sess.Conn().Close()
}

// ping is XEP-0199 ping, or with the latePongs test hook a pong that never
// comes in time.
func (s *Swarm) ping(ctx context.Context, sess *xmpp.Session, server jid.JID) error {
	if s.tune.latePongs {
		<-ctx.Done()
		return ctx.Err()
	}
	return ping.Send(ctx, sess, server)
}
