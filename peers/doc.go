// Package peers connects the devices of one account: they meet over XMPP,
// exchange their history, and move chunks over a pinned TLS channel.
//
// # Meeting: XMPP
//
// Each device logs in to the account's XMPP server (RFC 6120: the
// domain's _xmpp-client SRV records unless Config.Server names it,
// StartTLS, SASL SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN, resource binding) as
// user@host/latus-<device>, where <device> is the short id of its
// certificate (internal/identity).
// Its available presence (RFC 6121) carries
//
//	<latus xmlns='urn:latus:0' device='…' fingerprint='…' seq='…' addrs='host:port …'/>
//
// so every other device of the account learns that a Latus device came
// online, the SHA-256 fingerprint of its certificate, its index position,
// and the addresses (at most 8) where its data channel can be reached. Devices of other allowed accounts
// (Config.Allow) learn it by directed presence, which each side answers
// with its own. One goroutine per available device lives until the device
// goes unavailable or the session ends. The session pings the server
// (XEP-0199) to notice a frozen server (a late pong while stanzas keep
// arriving is a busy stream behind a throttled server, not a dead one),
// and reconnects with capped exponential backoff.
//
// # Talking: IQs in urn:latus:0
//
//	notify set  seq=N              → empty result; the receiver pulls index
//	keep   set  release nonce <c id size/>… → empty result; the answer follows as kept
//	kept   set  nonce <c id code proof/>…   → empty result; answers a pending keep
//	dial   get                     → <dial addrs='host:port …'/>
//
// Only small signals go through the server: these, presence, and
// bytestream negotiation; no stanza of Latus's exceeds 16 KiB. Index
// pages (meta's binary encoding of each version, length-prefixed,
// compressed) and chunks go over the data channel, so the server never
// sees a path name or a file's bytes, and a version with any number of
// chunk refs syncs (up to 4 MiB uncompressed, about 90,000 refs). Pulls
// start at meta.PeerPos(device), so a device that comes back resumes
// where it stopped. Handlers answer inside the session's read loop and
// never send an IQ themselves (its answer could only arrive through that
// same loop); work that needs a round trip goes to the device's goroutine.
//
// # Moving data: one channel, three transports
//
// The data channel is TLS 1.3 between the two devices' certificates; the
// device that wants data is the client, the device that has it serves
// chunk and index-page requests (frames.go), many in flight on one
// connection, answered in any order with a status from a fixed table and
// the chunk's stored (possibly compressed) bytes or the page. The
// fetching device checks it once with chunks.Verify (decode, BLAKE3) and
// hands the chunk store the bytes as they travelled, which it keeps without
// compressing them again: a device that serves anything else is reported
// with chunks.ErrCorrupt and the fetcher asks another. Whatever carries the
// channel, tried in this order (dialChannel):
//
//  1. Direct TCP. Each device listens (Config.DataAddr, by default every
//     interface) and announces its interfaces' addresses (loopback only
//     when it has no other; again whenever they change, checked with each
//     keepalive ping) and Config.DataExternal, a port forwarded from
//     outside. The dialer races them, each a head start of 300 ms over the
//     next, and keeps the first whose pinned handshake completes.
//  2. SOCKS5 Bytestreams (XEP-0065) through the server's proxy, found with
//     disco#items and disco#info (identity proxy/bytestreams), as Prosody's
//     and ejabberd's mod_proxy65 provide. Both devices CONNECT to the
//     proxy naming SHA-1(sid + requester JID + target JID); the requester
//     activates the stream. The proxy sees only ciphertext.
//  3. In-Band Bytestreams (XEP-0047) through the server, 6 KiB blocks
//     (8 KiB base64) acknowledged one at a time; a stock Prosody reads each
//     client at 10 kB/s.
//
// Swarm.Devices reports which carries each device's channel ("direct
// ADDR", "relay PROXY-JID", "in-band") and the rate received lately.
//
// # Trust
//
// The account's own bare JID and those in Config.Allow are peers;
// presence and IQs from anyone else are dropped and logged, never
// answered with data. A device id is bound to the account and
// certificate it was first seen with (Options.KnownDevices,
// internal/devices): a presence announcing it from another account or
// with another fingerprint is refused and logged. Only devices the
// registry approves are served: a removed device (RemoveDevice), or a new
// one of the own account waiting for approval (Config.RequireApproval),
// adds no peer from its presence, its IQs are answered forbidden, and its
// certificate is refused by the data channel. Removals and approvals are
// signed by the deciding device and passed between the account's devices
// in devices IQs (decisions.go), so every device, one offline at the
// time included, converges on them. The XMPP server vouches for JIDs; the data channel
// then trusts nothing but fingerprints: both sides present their device
// certificate, the server side accepts only a certificate whose fingerprint
// an online allowed device announced, and the client side accepts only the
// fingerprint the device it dials announced. A server that lies about
// presence can therefore deny service but cannot read or forge chunks,
// which are verified by hash anyway.
package peers
