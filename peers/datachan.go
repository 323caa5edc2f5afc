package peers

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/xmpp/stanza"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/internal/identity"
)

// alpn names the data channel protocol in the TLS handshake.
const alpn = "latus/0"

const (
	handshakeTimeout = 10 * time.Second
	serveParallel    = 4 // chunk reads in flight per incoming connection
)

// dataServer is the TLS listener of the data channel and its connections.
type dataServer struct {
	ln net.Listener

	mu     sync.Mutex          // guards conns and closed
	conns  map[net.Conn]string // → fingerprint of the peer once authenticated
	closed bool
}

func (s *Swarm) listenData() error {
	addr := s.opts.Config.DataAddr
	if addr == "" {
		addr = ":0"
	}
	if ext := s.opts.Config.DataExternal; ext != "" {
		if err := validAddr(ext); err != nil {
			return fmt.Errorf("external data channel address %q: %w", ext, ErrConfig)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for the data channel on %s: %w", addr, err)
	}
	s.data = &dataServer{ln: ln, conns: map[net.Conn]string{}}
	return nil
}

// dataAddrs lists where the data channel can be reached now: interfaces
// come and go (a laptop changes networks), so each presence asks again.
func (s *Swarm) dataAddrs() []string {
	if s.tune.dataAddrs != nil {
		return s.tune.dataAddrs()
	}
	return announceAddrs(s.data.ln.Addr().(*net.TCPAddr).AddrPort(), s.opts.Config.DataExternal, s.tune.interfaceAddrs)
}

func (d *dataServer) track(c net.Conn) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.conns[c] = ""
	return true
}

// authenticated records whose certificate c presented.
func (d *dataServer) authenticated(c net.Conn, fp string) {
	d.mu.Lock()
	if _, ok := d.conns[c]; ok {
		d.conns[c] = fp
	}
	d.mu.Unlock()
}

// closeFrom ends the connections of the device with fingerprint fp: it
// went unavailable, so it loses access until it announces itself again.
func (d *dataServer) closeFrom(fp string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for c, cfp := range d.conns {
		if cfp == fp {
			c.Close()
		}
	}
}

func (d *dataServer) untrack(c net.Conn) {
	d.mu.Lock()
	delete(d.conns, c)
	d.mu.Unlock()
}

func (d *dataServer) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.closed = true
	d.ln.Close()
	for c := range d.conns {
		c.Close()
	}
}

// serverTLS requires a client certificate whose fingerprint an online
// allowed device announced; any other certificate is refused.
func (s *Swarm) serverTLS() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{s.id.Cert},
		ClientAuth:   tls.RequireAnyClientCert,
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{alpn},
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return fmt.Errorf("no client certificate: %w", ErrFingerprint)
			}
			fp := identity.FingerprintOf(raw[0])
			// The device's presence may still be on its way: wait a little.
			deadline := time.Now().Add(s.tune.trustWait)
			for !s.trusted(fp) {
				if time.Now().After(deadline) || s.ctx.Err() != nil {
					s.log.Warn("data: refused a certificate no online peer announced", "fingerprint", fp[:16])
					return fmt.Errorf("client certificate %s: %w", fp[:16], ErrFingerprint)
				}
				time.Sleep(20 * time.Millisecond)
			}
			return nil
		},
	}
}

// clientTLS pins the server's certificate to the fingerprint p announced.
func (s *Swarm) clientTLS(fingerprint string) *tls.Config {
	return &tls.Config{
		Certificates:       []tls.Certificate{s.id.Cert},
		InsecureSkipVerify: true, // no CA: the fingerprint check below is the verification
		MinVersion:         tls.VersionTLS13,
		NextProtos:         []string{alpn},
		ServerName:         "latus",
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return fmt.Errorf("no server certificate: %w", ErrFingerprint)
			}
			if got := identity.FingerprintOf(raw[0]); got != fingerprint {
				return fmt.Errorf("server certificate %s, announced %s: %w", got[:16], fingerprint[:16], ErrFingerprint)
			}
			return nil
		},
	}
}

// serveData accepts direct data-channel connections until Close.
func (s *Swarm) serveData() {
	defer s.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := s.data.ln.Accept()
		if err != nil {
			if s.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				s.log.Warn("data: accept", "err", err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			return
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			s.serveConn(c, 0)
		}()
	}
}

// serveConn serves the data channel on c, whichever transport carries it
// (a direct connection, a proxied or an in-band stream), until it ends.
// pad > 0 makes the last response of each burst followed by that much
// padding (a frame with request id 0).
func (s *Swarm) serveConn(c net.Conn, pad int) {
	defer c.Close()
	if !s.data.track(c) {
		return
	}
	defer s.data.untrack(c)
	bc := &batchConn{Conn: c}
	s.serveDataConn(tls.Server(bc, s.serverTLS()), bc, pad)
}

func (s *Swarm) serveDataConn(c *tls.Conn, bc *batchConn, pad int) {
	hctx, cancel := context.WithTimeout(s.ctx, handshakeTimeout)
	err := c.HandshakeContext(hctx)
	cancel()
	if err != nil {
		s.log.Debug("data: handshake", "remote", c.RemoteAddr(), "err", err)
		return
	}
	fp := identity.FingerprintOf(c.ConnectionState().PeerCertificates[0].Raw)
	s.data.authenticated(bc.Conn, fp)
	if !s.trusted(fp) { // it went unavailable during the handshake
		return
	}
	if tc, ok := bc.Conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	bc.batch(256 << 10)
	var wmu sync.Mutex // guards bw: responses are written whole, one at a time
	bw := bufio.NewWriterSize(c, 64<<10)
	var padding []byte
	if pad > 0 {
		padding = appendRespHeader(nil, respHeader{id: padID, length: uint32(pad)})
		padding = append(padding, make([]byte, pad)...)
	}
	var waiting atomic.Int32 // responses ready or being read, not yet written
	sem := make(chan struct{}, serveParallel)
	var inflight sync.WaitGroup
	defer inflight.Wait()
	br := bufio.NewReaderSize(c, 4096)
	for {
		req, err := readRequest(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && s.ctx.Err() == nil {
				s.log.Debug("data: read request", "remote", c.RemoteAddr(), "err", err)
			}
			return
		}
		sem <- struct{}{}
		inflight.Add(1)
		waiting.Add(1)
		go func() {
			defer inflight.Done()
			defer func() { <-sem }()
			h, body := s.answerData(req)
			wmu.Lock()
			defer wmu.Unlock()
			var hb [respHeaderLen]byte
			bw.Write(appendRespHeader(hb[:0], h))
			if h.status == statusOK {
				bw.Write(body)
			}
			err = bw.Flush()
			if waiting.Add(-1) == 0 && padding != nil && err == nil {
				// In TLS records of its own: the response's last record is whole.
				bw.Write(padding)
				err = bw.Flush()
			}
			if err == nil {
				err = bc.flush()
			}
			if err != nil {
				c.Close() // the read loop sees it and ends
			}
		}()
	}
}

// answerData answers one request: a chunk's stored form or an index page.
func (s *Swarm) answerData(req request) (respHeader, []byte) {
	h := respHeader{id: req.id}
	if req.op == opIndex {
		body, err := s.indexBody(req.since)
		if err != nil {
			s.log.Warn("data: serving index", "since", req.since, "err", err)
			h.status = statusError
			return h, nil
		}
		h.codec, h.length = chunks.CodecZstd, uint32(len(body))
		return h, body
	}
	codec, stored, err := s.readStored(req.chunk)
	switch {
	case errors.Is(err, chunks.ErrNotFound):
		h.status = statusNotFound
	case err != nil:
		s.log.Warn("data: read chunk", "chunk", req.chunk.Short(), "err", err)
		h.status = statusError
	default:
		h.codec, h.length = codec, uint32(len(stored))
	}
	return h, stored
}

// dataConn is this device's connection to one peer's data channel: many
// requests in flight, answered in any order.
type dataConn struct {
	c   *tls.Conn
	raw net.Conn // under c: closing it first ends c without a close_notify that could wait on a slow transport
	// transport says what carries it, as latus status shows: "direct
	// ADDR", "relay PROXY-JID" or "in-band".
	transport string
	done      chan struct{}

	wmu sync.Mutex // guards bw
	bw  *bufio.Writer

	mu      sync.Mutex // guards pending, next, err
	pending map[uint32]chan dataResult
	next    uint32
	err     error
}

type dataResult struct {
	codec  chunks.Codec
	stored []byte
	err    error
}

// dataConnFor returns p's data connection, making one if needed.
func (s *Swarm) dataConnFor(ctx context.Context, p *peer) (*dataConn, error) {
	p.mu.Lock()
	if dc := p.dc; dc != nil && dc.alive() {
		p.mu.Unlock()
		return dc, nil
	}
	if wait := time.Until(p.dialAfter); wait > 0 {
		p.mu.Unlock()
		return nil, fmt.Errorf("data channel to %s failed; next try in %v: %w", p.device, wait.Round(time.Second), ErrNoChannel)
	}
	p.mu.Unlock()

	p.dialMu.Lock()
	defer p.dialMu.Unlock()
	p.mu.Lock()
	if dc := p.dc; dc != nil && dc.alive() {
		p.mu.Unlock()
		return dc, nil
	}
	p.mu.Unlock()
	c, raw, transport, err := s.dialChannel(ctx, p)
	if err != nil {
		if ctx.Err() == nil {
			p.mu.Lock()
			p.dialAfter = time.Now().Add(s.tune.dialRetry)
			p.mu.Unlock()
			s.log.Warn("data: cannot reach peer by any transport", "peer", p.device, "err", err)
		}
		return nil, err
	}
	s.log.Info("data: connected", "peer", p.device, "via", transport)
	dc := &dataConn{c: c, raw: raw, transport: transport, done: make(chan struct{}), bw: bufio.NewWriterSize(c, 4096), pending: map[uint32]chan dataResult{}}
	// The read loop is owned by the swarm; adding to its WaitGroup is only
	// safe while it is open and the peer is still online. s.mu before p.mu,
	// as in stopPeerLocked and Devices; under both, stopPeerLocked cannot
	// miss the new connection.
	s.mu.Lock()
	ok := !s.closed && p.ctx.Err() == nil
	if ok {
		s.wg.Add(1)
		p.mu.Lock()
		p.dc = dc
		p.mu.Unlock()
	}
	s.mu.Unlock()
	if !ok {
		raw.Close()
		c.Close()
		return nil, ErrOffline
	}
	go func() {
		defer s.wg.Done()
		dc.readLoop()
	}()
	return dc, nil
}

// dialChannel makes a data channel to p over the first transport that
// works, in order: direct TCP to its addresses (raced), a stream through
// the server's SOCKS5 proxy, an in-band stream through the server. It
// returns the TLS connection, the transport under it, and what that is.
func (s *Swarm) dialChannel(ctx context.Context, p *peer) (*tls.Conn, net.Conn, string, error) {
	var errs []error
	if !s.tune.noDirect {
		c, via, err := s.dialDirect(ctx, p)
		if err == nil {
			return c, c.NetConn(), "direct " + via, nil
		}
		s.log.Debug("data: no direct connection", "peer", p.device, "err", err)
		errs = append(errs, fmt.Errorf("direct: %w", err))
	}
	if !s.tune.noRelay {
		rctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
		raw, proxy, err := s.dialRelay(rctx, p)
		if err == nil {
			var c *tls.Conn
			if c, err = s.handshake(rctx, raw, p); err == nil {
				cancel()
				return c, raw, "relay " + proxy, nil
			}
		}
		cancel()
		s.log.Debug("data: no relayed connection", "peer", p.device, "err", err)
		errs = append(errs, fmt.Errorf("relay: %w", err))
	}
	// In-band pays 10 kB/s on a stock server: its handshake gets longer.
	ictx, cancel := context.WithTimeout(ctx, 3*handshakeTimeout)
	defer cancel()
	raw, err := s.dialInBand(ictx, p)
	if err == nil {
		var c *tls.Conn
		if c, err = s.handshake(ictx, raw, p); err == nil {
			return c, raw, "in-band", nil
		}
	}
	errs = append(errs, fmt.Errorf("in-band: %w", err))
	return nil, nil, "", fmt.Errorf("data channel to %s: %w: %w", p.device, ErrNoChannel, errors.Join(errs...))
}

// handshake runs the pinned TLS client handshake over raw.
func (s *Swarm) handshake(ctx context.Context, raw net.Conn, p *peer) (*tls.Conn, error) {
	c := tls.Client(raw, s.clientTLS(p.fingerprint))
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return c, nil
}

// dialDirect races p's addresses, asking for them first (dial IQ) when
// its presence did not carry them.
func (s *Swarm) dialDirect(ctx context.Context, p *peer) (*tls.Conn, string, error) {
	p.mu.Lock()
	addrs := p.addrs
	p.mu.Unlock()
	if len(addrs) == 0 {
		if err := s.askDial(ctx, p); err != nil {
			return nil, "", err
		}
	}
	return s.dialData(ctx, p)
}

func (s *Swarm) askDial(ctx context.Context, p *peer) error {
	var d dialPayload
	if err := s.sendIQ(ctx, p.jid, stanza.GetIQ, element("dial", nil, nil), &d); err != nil {
		return fmt.Errorf("ask %s for its data channel address: %w", p.device, err)
	}
	addrs, err := parseAddrs(d.Addrs)
	if err == nil && len(addrs) == 0 {
		err = fmt.Errorf("empty answer: %w", ErrProtocol)
	}
	if err != nil {
		return fmt.Errorf("data channel address of %s: %w", p.device, err)
	}
	p.mu.Lock()
	p.addrs = addrs
	p.mu.Unlock()
	return nil
}

// dialData races p's addresses and returns the first connection whose
// pinned handshake completes, and its address.
func (s *Swarm) dialData(ctx context.Context, p *peer) (*tls.Conn, string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.tune.directTimeout)
	defer cancel()
	d := tls.Dialer{Config: s.clientTLS(p.fingerprint)}
	p.mu.Lock()
	addrs := p.addrs
	p.mu.Unlock()
	return dialFirst(ctx, addrs, s.tune.dialStagger, func(ctx context.Context, addr string) (*tls.Conn, error) {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		tc := c.(*tls.Conn)
		if nc, ok := tc.NetConn().(*net.TCPConn); ok {
			nc.SetNoDelay(true)
		}
		return tc, nil
	})
}

func (dc *dataConn) alive() bool {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	return dc.err == nil
}

func (dc *dataConn) close() { dc.fail(net.ErrClosed) }

// fail ends the connection and every request waiting on it.
func (dc *dataConn) fail(err error) {
	dc.mu.Lock()
	if dc.err == nil {
		dc.err = err
	}
	pending := dc.pending
	dc.pending = map[uint32]chan dataResult{}
	dc.mu.Unlock()
	dc.raw.Close()
	dc.c.Close()
	for _, ch := range pending {
		ch <- dataResult{err: fmt.Errorf("data channel: %w", err)}
	}
}

func (dc *dataConn) readLoop() {
	br := bufio.NewReaderSize(dc.c, 64<<10)
	var hb [respHeaderLen]byte
	for {
		if _, err := io.ReadFull(br, hb[:]); err != nil {
			dc.fail(err)
			return
		}
		h, err := parseRespHeader(hb[:])
		if err != nil {
			dc.fail(err)
			return
		}
		var body []byte
		if h.length > 0 {
			body = make([]byte, h.length)
			if _, err := io.ReadFull(br, body); err != nil {
				dc.fail(err)
				return
			}
		}
		dc.mu.Lock()
		ch := dc.pending[h.id]
		delete(dc.pending, h.id)
		dc.mu.Unlock()
		if ch != nil { // nil: its requester gave up
			ch <- dataResult{codec: h.codec, stored: body, err: h.status.err()}
		}
	}
}

// get asks for chunk id's stored form.
func (dc *dataConn) get(ctx context.Context, id chunks.ID) (chunks.Codec, []byte, error) {
	r := dc.do(ctx, request{op: opGet, chunk: id})
	return r.codec, r.stored, r.err
}

// do sends req (its id is set here) and waits for its response.
func (dc *dataConn) do(ctx context.Context, req request) dataResult {
	ch := make(chan dataResult, 1)
	dc.mu.Lock()
	if dc.err != nil {
		err := dc.err
		dc.mu.Unlock()
		return dataResult{err: fmt.Errorf("data channel: %w", err)}
	}
	if dc.next++; dc.next == padID {
		dc.next++
	}
	req.id = dc.next
	dc.pending[req.id] = ch
	dc.mu.Unlock()

	var b [requestSize]byte
	dc.wmu.Lock()
	dc.bw.Write(appendRequest(b[:0], req))
	err := dc.bw.Flush()
	dc.wmu.Unlock()
	if err != nil {
		dc.fail(err)
	}
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		dc.mu.Lock()
		delete(dc.pending, req.id)
		dc.mu.Unlock()
		return dataResult{err: ctx.Err()}
	}
}

// batchConn sits under a TLS server connection and, once batching, gathers
// TLS records into large writes: a chunk leaves in a few syscalls instead
// of one per 16 KiB record. flush sends what is gathered.
type batchConn struct {
	net.Conn
	mu sync.Mutex // guards bw: tls.Conn writes from its reader too (alerts, key updates)
	bw *bufio.Writer
}

// batch starts gathering writes; until then (the handshake) they go out at once.
func (c *batchConn) batch(size int) {
	c.mu.Lock()
	c.bw = bufio.NewWriterSize(c.Conn, size)
	c.mu.Unlock()
}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bw == nil {
		return c.Conn.Write(p)
	}
	return c.bw.Write(p)
}

func (c *batchConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bw == nil {
		return nil
	}
	return c.bw.Flush()
}
