package peers

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// In-Band Bytestreams (XEP-0047): the last transport, when the devices
// reach neither each other nor a proxy. The data channel's TLS runs over
// a stream of <data/> IQs through the XMPP server, each acknowledged
// before the next, so one stream has at most one block in the server's
// queue and this device's keepalive pings wait behind at most that.
//
// mellium.im/xmpp/ibb (v0.22.0) is not used: its Conn.Read can miss the
// wake-up for data that arrives while it goes to sleep (and then waits
// forever), its handler reads the stream table without its lock, it
// blocks the session's read loop on an open until Accept is called, and
// it ignores read deadlines. The protocol is small; this is it.

const nsIBB = "http://jabber.org/protocol/ibb"

const (
	// ibbBlockSize is the bytes of one <data/>: 8 KiB once base64-encoded,
	// so the stanza stays far under maxStanza.
	ibbBlockSize = 6 << 10
	// ibbWindow bounds what a stream buffers unread.
	ibbWindow = 1 << 20
)

// ibbStreams are the in-band streams of this device, by peer and sid.
type ibbStreams struct {
	mu      sync.Mutex // guards streams
	streams map[string]*ibbConn
}

func ibbKey(peer jid.JID, sid string) string { return peer.String() + " " + sid }

func (t *ibbStreams) add(c *ibbConn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := ibbKey(c.peer, c.sid)
	if t.streams == nil {
		t.streams = map[string]*ibbConn{}
	}
	if t.streams[k] != nil {
		return false
	}
	t.streams[k] = c
	return true
}

func (t *ibbStreams) get(peer jid.JID, sid string) *ibbConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.streams[ibbKey(peer, sid)]
}

func (t *ibbStreams) remove(c *ibbConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if k := ibbKey(c.peer, c.sid); t.streams[k] == c {
		delete(t.streams, k)
	}
}

// closeAll ends every stream: the session carrying them is gone.
func (t *ibbStreams) closeAll() {
	t.mu.Lock()
	all := t.streams
	t.streams = nil
	t.mu.Unlock()
	for _, c := range all {
		c.fail(net.ErrClosed)
	}
}

// ibbConn is one in-band stream as a net.Conn. Its writes send <data/>
// IQs over the session it was opened on, one at a time; the session's
// handler feeds its reads (deliver).
type ibbConn struct {
	t     *ibbStreams
	sess  *xmpp.Session
	self  jid.JID
	peer  jid.JID
	sid   string
	block int

	ctx    context.Context // ends with the stream
	cancel context.CancelFunc

	wmu  sync.Mutex // one <data/> in flight; guards out
	out  uint16     // seq of the next block sent
	wdl  time.Time  // write deadline; guarded by mu
	rdl  time.Time  // read deadline; guarded by mu
	mu   sync.Mutex // guards the fields below and wdl, rdl
	in   uint16     // seq of the next block expected
	buf  bytes.Buffer
	wake chan struct{} // closed and replaced when buf, err or rdl change
	err  error         // why the stream ended (io.EOF: the peer closed it)
}

func newIBBConn(t *ibbStreams, sess *xmpp.Session, sctx context.Context, peer jid.JID, sid string, block int) *ibbConn {
	ctx, cancel := context.WithCancel(sctx)
	return &ibbConn{t: t, sess: sess, self: sess.LocalAddr(), peer: peer, sid: sid, block: block, ctx: ctx, cancel: cancel, wake: make(chan struct{})}
}

// ibbOpen is <open xmlns=ibb sid block-size stanza/>.
func ibbOpen(sid string, block int) xml.TokenReader {
	return wrapNS(nsIBB, "open", []xml.Attr{attr("sid", sid), attr("block-size", strconv.Itoa(block)), attr("stanza", "iq")}, nil)
}

// parseIBBOpen checks an open's attributes: a valid sid, a block size of
// 1..ibbBlockSize (a larger one is answered resource-constraint, as
// XEP-0047 §2.2 asks, so the opener may try smaller), IQ carriers.
func parseIBBOpen(start *xml.StartElement) (sid string, block int, err error) {
	sid, bs, carrier := attrValue(start.Attr, "sid"), attrValue(start.Attr, "block-size"), attrValue(start.Attr, "stanza")
	n, perr := strconv.ParseUint(bs, 10, 16)
	switch {
	case !validSID(sid) || perr != nil || n == 0:
		return "", 0, fmt.Errorf("in-band open sid %.80q block-size %.20q: %w", sid, bs, ErrProtocol)
	case n > ibbBlockSize:
		return "", 0, stanza.Error{Type: stanza.Modify, Condition: stanza.ResourceConstraint}
	case carrier != "" && carrier != "iq":
		return "", 0, stanza.Error{Type: stanza.Cancel, Condition: stanza.FeatureNotImplemented}
	}
	return sid, int(n), nil
}

// decodeIBBData reads a <data/> whose start was read: its sid, seq and
// bytes, refusing more than block bytes before decoding them.
func decodeIBBData(r xml.TokenReader, start *xml.StartElement, block int) (sid string, seq uint16, data []byte, err error) {
	sid, seqs := attrValue(start.Attr, "sid"), attrValue(start.Attr, "seq")
	n, perr := strconv.ParseUint(seqs, 10, 16)
	if !validSID(sid) || perr != nil {
		return "", 0, nil, fmt.Errorf("in-band data sid %.80q seq %.20q: %w", sid, seqs, ErrProtocol)
	}
	limit := base64.StdEncoding.EncodedLen(block)
	var text []byte
	for depth := 0; ; {
		tok, err := r.Token()
		if err != nil {
			return "", 0, nil, fmt.Errorf("in-band data: %v: %w", err, ErrProtocol)
		}
		switch t := tok.(type) {
		case xml.CharData:
			if depth > 0 || len(text)+len(t) > limit {
				return "", 0, nil, fmt.Errorf("in-band data over %d bytes: %w", block, ErrProtocol)
			}
			text = append(text, t...)
		case xml.StartElement:
			depth++
		case xml.EndElement:
			if depth == 0 {
				data, err := base64.StdEncoding.DecodeString(string(text))
				if err != nil || len(data) > block {
					return "", 0, nil, fmt.Errorf("in-band data: bad base64: %w", ErrProtocol)
				}
				return sid, uint16(n), data, nil
			}
			depth--
		}
	}
}

// deliver takes the block carried by a <data/>. Its reader (the data
// channel's read loop) drains the stream as it comes, so a stream over
// ibbWindow unread is a peer sending beyond what was asked: it ends.
func (c *ibbConn) deliver(seq uint16, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return stanza.Error{Type: stanza.Cancel, Condition: stanza.ItemNotFound}
	}
	if seq != c.in {
		// A lost or repeated block: the stream cannot go on (§2.2).
		c.failLocked(fmt.Errorf("in-band block %d, expected %d: %w", seq, c.in, ErrProtocol))
		return stanza.Error{Type: stanza.Cancel, Condition: stanza.UnexpectedRequest}
	}
	if c.buf.Len()+len(data) > ibbWindow {
		c.failLocked(fmt.Errorf("in-band stream over %d bytes unread: %w", ibbWindow, ErrProtocol))
		return stanza.Error{Type: stanza.Cancel, Condition: stanza.ResourceConstraint}
	}
	c.in++
	c.buf.Write(data)
	c.wakeLocked()
	return nil
}

func (c *ibbConn) wakeLocked() {
	close(c.wake)
	c.wake = make(chan struct{})
}

func (c *ibbConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	for c.buf.Len() == 0 && c.err == nil {
		var timeout <-chan time.Time
		if !c.rdl.IsZero() {
			d := time.Until(c.rdl)
			if d <= 0 {
				c.mu.Unlock()
				return 0, os.ErrDeadlineExceeded
			}
			tm := time.NewTimer(d)
			defer tm.Stop()
			timeout = tm.C
		}
		wake := c.wake
		c.mu.Unlock()
		select {
		case <-wake:
		case <-timeout:
		}
		c.mu.Lock()
	}
	if c.buf.Len() == 0 {
		err := c.err
		c.mu.Unlock()
		return 0, err
	}
	n, _ := c.buf.Read(b)
	c.mu.Unlock()
	return n, nil
}

func (c *ibbConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	sent := 0
	for sent < len(b) {
		c.mu.Lock()
		err, dl := c.err, c.wdl
		c.mu.Unlock()
		if err != nil {
			return sent, err
		}
		ctx, cancel := c.ctx, context.CancelFunc(func() {})
		if !dl.IsZero() {
			ctx, cancel = context.WithDeadline(c.ctx, dl)
		}
		n := min(c.block, len(b)-sent)
		data := wrapNS(nsIBB, "data", []xml.Attr{attr("sid", c.sid), attr("seq", strconv.Itoa(int(c.out)))},
			chars(base64.StdEncoding.EncodeToString(b[sent:sent+n])))
		err = c.sess.UnmarshalIQElement(ctx, data, stanza.IQ{To: c.peer, Type: stanza.SetIQ}, nil)
		cancel()
		if err != nil {
			if !dl.IsZero() && !time.Now().Before(dl) {
				return sent, os.ErrDeadlineExceeded // the stream stays usable, as net.Conn's do
			}
			c.fail(fmt.Errorf("in-band write to %s: %w", c.peer, err))
			return sent, err
		}
		c.out++
		sent += n
	}
	return sent, nil
}

// fail ends the stream without telling the peer.
func (c *ibbConn) fail(err error) {
	c.mu.Lock()
	c.failLocked(err)
	c.mu.Unlock()
}

func (c *ibbConn) failLocked(err error) {
	if c.err == nil {
		c.err = err
		c.cancel()
		c.t.remove(c)
		c.wakeLocked()
	}
}

// Close ends the stream and tells the peer with <close/>, without waiting
// for its answer (Close runs under locks of the swarm's).
func (c *ibbConn) Close() error {
	c.mu.Lock()
	open := c.err == nil
	c.failLocked(net.ErrClosed)
	c.mu.Unlock()
	if open {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return c.sess.Send(ctx, stanza.IQ{To: c.peer, Type: stanza.SetIQ}.Wrap(wrapNS(nsIBB, "close", []xml.Attr{attr("sid", c.sid)}, nil)))
	}
	return nil
}

// closed marks the stream closed by the peer: reads drain what came, then EOF.
func (c *ibbConn) closed() { c.fail(io.EOF) }

func (c *ibbConn) LocalAddr() net.Addr  { return c.self }
func (c *ibbConn) RemoteAddr() net.Addr { return c.peer }

func (c *ibbConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *ibbConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.rdl = t
	c.wakeLocked()
	c.mu.Unlock()
	return nil
}

func (c *ibbConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.wdl = t
	c.mu.Unlock()
	return nil
}

// dialInBand opens an in-band stream to p.
func (s *Swarm) dialInBand(ctx context.Context, p *peer) (net.Conn, error) {
	sess, sctx, err := s.session()
	if err != nil {
		return nil, err
	}
	c := newIBBConn(&s.ibb, sess, sctx, p.jid, randomSID(), ibbBlockSize)
	s.ibb.add(c)
	if err := s.sendIQ(ctx, p.jid, stanza.SetIQ, ibbOpen(c.sid, c.block), nil); err != nil {
		c.fail(err)
		return nil, fmt.Errorf("open an in-band stream to %s: %w", p.device, err)
	}
	return c, nil
}

// answerIBB handles open, data and close from p.
func (s *Swarm) answerIBB(iq stanza.IQ, r xml.TokenReader, start *xml.StartElement, p *peer) error {
	switch start.Name.Local {
	case "open":
		sid, block, err := parseIBBOpen(start)
		if err != nil {
			return err
		}
		sess, sctx, err := s.session()
		if err != nil {
			return stanza.Error{Type: stanza.Wait, Condition: stanza.RecipientUnavailable}
		}
		c := newIBBConn(&s.ibb, sess, sctx, iq.From, sid, block)
		if !s.ibb.add(c) {
			return stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAcceptable}
		}
		if !s.goOwned(func() { s.serveConn(c, 0) }) {
			c.fail(ErrClosed)
			return stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAcceptable}
		}
		return nil
	case "data":
		c := s.ibb.get(iq.From, attrValue(start.Attr, "sid"))
		if c == nil {
			return stanza.Error{Type: stanza.Cancel, Condition: stanza.ItemNotFound}
		}
		_, seq, data, err := decodeIBBData(r, start, c.block)
		if err != nil {
			c.fail(err)
			return err
		}
		return c.deliver(seq, data)
	case "close":
		c := s.ibb.get(iq.From, attrValue(start.Attr, "sid"))
		if c == nil {
			return stanza.Error{Type: stanza.Cancel, Condition: stanza.ItemNotFound}
		}
		c.closed()
		return nil
	}
	return stanza.Error{Type: stanza.Cancel, Condition: stanza.FeatureNotImplemented}
}
