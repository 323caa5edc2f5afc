package peers

import "errors"

var (
	// ErrAuth is returned when the XMPP server refuses the account's
	// credentials (wrong password or unknown account).
	ErrAuth = errors.New("peers: XMPP login refused: wrong password or unknown account")
	// ErrUnreachable is returned when the XMPP server cannot be reached.
	ErrUnreachable = errors.New("peers: XMPP server unreachable")
	// ErrUntrustedServer is returned when the XMPP server's TLS certificate
	// is not trusted (self-signed test servers need Config.Insecure).
	ErrUntrustedServer = errors.New("peers: XMPP server certificate not trusted")
	// ErrFingerprint is returned when a device's data channel presents a
	// certificate other than the one it announced in presence.
	ErrFingerprint = errors.New("peers: certificate does not match the announced fingerprint")
	// ErrProtocol is returned when a peer sends a malformed or hostile payload.
	ErrProtocol = errors.New("peers: protocol violation")
	// ErrOffline is returned when a device went unavailable.
	ErrOffline = errors.New("peers: device offline")
	// ErrNoChannel is returned when no transport reaches a device: not
	// directly, not through the server's proxy, not in-band.
	ErrNoChannel = errors.New("peers: no data channel to the device")
	// ErrNotFound is returned when a device does not have a chunk.
	ErrNotFound = errors.New("peers: device does not have the chunk")
	// ErrPeerFailed is returned when a device failed to serve a request.
	ErrPeerFailed = errors.New("peers: device failed to serve the request")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("peers: swarm closed")
	// ErrConfig is returned when Start is given an invalid configuration.
	ErrConfig = errors.New("peers: invalid configuration")
)
