package peers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/internal/devices"
	"github.com/uberan/latus/internal/identity"
	"github.com/uberan/latus/meta"
)

// Config is the XMPP side of a device's configuration.
type Config struct {
	JID      string   // user@host (bare); the resource is latus-<device>
	Password string   //
	Server   string   // host:port of the c2s listener; "" = the domain's _xmpp-client._tcp SRV records, else host:5222
	Insecure bool     // accept an untrusted server certificate (self-signed test servers)
	Allow    []string // bare JIDs of other accounts whose devices are peers; the account's own always is
	DataAddr string   // listen address of the TLS data channel; "" = ":0" (every interface)
	// DataExternal is host:port where peers outside this network reach
	// the data channel (a port forwarded to DataAddr); announced besides
	// the interfaces' own addresses.
	DataExternal string
	// RequireApproval keeps new devices of the own account pending,
	// refused like unknown ones, until ApproveDevice (latus devices
	// approve); otherwise they are approved on first use.
	RequireApproval bool
}

// Options are what Start needs.
type Options struct {
	Config   Config
	Identity *identity.Identity
	Meta     *meta.DB
	Store    *chunks.Store
	OnMerged func(meta.MergeResult) // after each merge of remote versions (fusefs invalidation)
	OnOnline func(device string)    // a device became available (must not block)
	// OnRemoved runs when a device is removed, here or by a decision
	// another device passed on: its custody claims no longer count.
	OnRemoved func(device string)
	Keeper    Keeper // answers keep requests; nil: every keep is refused
	Logger    *slog.Logger
	// KnownDevices is the registry of known devices (internal/devices):
	// each device id bound to the account and certificate it was first
	// seen with, its name, last sighting, and removal or approval; ""
	// keeps it in memory for this run only.
	KnownDevices string
	// StartOffline makes an unreachable server at Start no error: the
	// swarm starts disconnected and keeps trying, so a device mounts with
	// no network. A refused login is still an error.
	StartOffline bool

	tune *tuning // tests only
}

// DeviceStatus describes a device seen since Start.
type DeviceStatus struct {
	Device   string
	JID      string // full JID it last used
	Online   bool
	Seq      uint64 // highest index position merged from it
	DataAddr string // the addresses it announced, space-separated
	// Transport is what carries the data channel to it now: "direct
	// ADDR", "relay PROXY-JID" (the server's SOCKS5 proxy) or "in-band"
	// (through the XMPP server); "" before any data moved.
	Transport string
	// Received counts the bytes of chunks and index pages it sent since
	// it came online; RecvRate is their rate over the last 5–10 s (bytes/s).
	Received int64
	RecvRate float64
}

// Swarm is this device's membership in its account's set of devices.
type Swarm struct {
	opts      Options
	log       *slog.Logger
	id        *identity.Identity
	tune      tuning
	bare      jid.JID
	resource  string
	allowList []jid.JID
	allow     map[string]bool // bare JIDs, canonical string form
	known     *devices.Registry
	name      string // this device's host name, announced in presence

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the swarm owns
	data   *dataServer

	mu      sync.Mutex // guards the fields below
	sess    *xmpp.Session
	sessCtx context.Context
	peers   map[string]*peer        // online devices by device id
	byJID   map[string]*peer        // online devices by full JID
	seen    map[string]DeviceStatus // every device seen, for Devices
	waiting map[string]waitingPeer  // present devices refused as pending or removed, by device id
	closed  bool
	// announced is the data channel's address list as last announced.
	announced string
	proxy     proxyFound // the server's bytestream proxy, for the session it was looked up in

	ibb ibbStreams // in-band streams (XEP-0047), open while their session is

	keeps        chan struct{}                 // one slot per keep request being answered
	pendingKeeps map[chunks.Nonce]*pendingKeep // keep requests sent, by nonce; guarded by mu
	index        *indexCodec

	lastRecv   atomic.Int64 // unix ns of the last stanza the session delivered to the handler
	directHint atomic.Int64 // versions in the last data-channel index page served
}

// Start listens on the data channel, logs in, announces this device, and
// returns once logged in; ctx bounds that first login only. A first login
// that fails is returned (ErrAuth, ErrUnreachable, ErrUntrustedServer);
// after it, the swarm reconnects on its own until Close.
func Start(ctx context.Context, opts Options) (*Swarm, error) {
	if opts.Identity == nil || opts.Meta == nil || opts.Store == nil {
		return nil, fmt.Errorf("start peers: identity, meta and store are required: %w", ErrConfig)
	}
	j, err := jid.Parse(opts.Config.JID)
	if err != nil || j.Localpart() == "" {
		return nil, fmt.Errorf("start peers: JID %q: want user@host: %w", opts.Config.JID, ErrConfig)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Swarm{
		opts: opts, log: log.With("device", opts.Identity.Device), id: opts.Identity,
		tune: defaultTuning(), bare: j.Bare(), resource: "latus-" + opts.Identity.Device,
		keeps: make(chan struct{}, maxKeepsInFlight), pendingKeeps: map[chunks.Nonce]*pendingKeep{},
		allow: map[string]bool{}, peers: map[string]*peer{}, byJID: map[string]*peer{}, seen: map[string]DeviceStatus{},
		waiting: map[string]waitingPeer{},
	}
	if h, err := os.Hostname(); err == nil && len(h) <= maxNameLen {
		s.name = h
	}
	if opts.tune != nil {
		s.tune = *opts.tune
	}
	if fp := s.tune.impersonate; len(fp) == 64 {
		s.resource = "latus-" + fp[:identity.DeviceLen]
	}
	// The account's own devices are always peers; Allow adds accounts.
	for _, a := range append([]string{s.bare.String()}, opts.Config.Allow...) {
		aj, err := jid.Parse(a)
		if err != nil || aj.Localpart() == "" || aj.Resourcepart() != "" {
			return nil, fmt.Errorf("start peers: allowed JID %q: want a bare user@host: %w", a, ErrConfig)
		}
		if !s.allow[aj.String()] {
			s.allow[aj.String()] = true
			s.allowList = append(s.allowList, aj)
		}
	}
	self := devices.Self{Identity: opts.Identity, Account: s.bare.String(), RequireApproval: opts.Config.RequireApproval}
	if s.known, err = devices.Open(opts.KnownDevices, self); err != nil {
		return nil, fmt.Errorf("start peers: %w", err)
	}
	if s.index, err = newIndexCodec(); err != nil {
		return nil, fmt.Errorf("start peers: %w", err)
	}

	if err := s.listenData(); err != nil {
		s.index.close()
		return nil, err
	}
	sess, err := login(ctx, opts.Config, s.resource, &s.tune)
	if err != nil && opts.StartOffline && errors.Is(err, ErrUnreachable) {
		s.log.Warn("xmpp: server unreachable; starting offline and retrying", "err", err)
		sess, err = nil, nil
	}
	if err != nil {
		s.data.close()
		s.index.close()
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if sess != nil {
		s.log.Info("xmpp: logged in", "jid", sess.LocalAddr(), "data", s.dataAddrs())
	}
	s.wg.Add(2)
	go s.run(sess)
	go s.serveData()
	return s, nil
}

// Close leaves the swarm: it announces this device unavailable, ends
// every goroutine and connection, and returns when they are gone.
func (s *Swarm) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.data.close()
	s.wg.Wait()
	s.index.close()
	return s.known.Flush()
}

// Notify tells online devices that a local commit exists; they pull it.
// It never blocks: notifications to a device coalesce while one is sent.
func (s *Swarm) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.peers {
		p.poke(p.notifyCh)
	}
}

// Devices lists the devices seen since Start, online ones first.
func (s *Swarm) Devices() []DeviceStatus {
	s.mu.Lock()
	out := make([]DeviceStatus, 0, len(s.seen))
	for _, d := range s.seen {
		if p := s.peers[d.Device]; p != nil {
			p.mu.Lock()
			if p.dc != nil && p.dc.alive() {
				d.Transport = p.dc.transport
			}
			p.mu.Unlock()
			d.Received, d.RecvRate = p.recv.read()
		}
		out = append(out, d)
	}
	s.mu.Unlock()
	for i := range out {
		out[i].Seq, _ = s.opts.Meta.PeerPos(out[i].Device)
	}
	slices.SortFunc(out, func(a, b DeviceStatus) int {
		if a.Online != b.Online {
			if a.Online {
				return -1
			}
			return 1
		}
		return cmpString(a.Device, b.Device)
	})
	return out
}

// Sources returns one chunks.Source per online device, those that served
// chunks successfully most recently first.
func (s *Swarm) Sources() []chunks.Source {
	s.mu.Lock()
	ps := make([]*peer, 0, len(s.peers))
	for _, p := range s.peers {
		ps = append(ps, p)
	}
	s.mu.Unlock()
	slices.SortFunc(ps, func(a, b *peer) int {
		sa, sb := a.score(), b.score()
		if sa != sb {
			if sa > sb {
				return -1
			}
			return 1
		}
		return cmpString(a.device, b.device)
	})
	out := make([]chunks.Source, len(ps))
	for i, p := range ps {
		out[i] = &deviceSource{s: s, p: p}
	}
	return out
}

// goOwned runs f in a goroutine the swarm waits for at Close, unless the
// swarm is closing; it reports whether f runs.
func (s *Swarm) goOwned(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
