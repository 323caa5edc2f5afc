package chunks

import "context"

// Source supplies chunks this device does not have. peers implements it,
// one Source per reachable device.
type Source interface {
	// Name identifies the source in logs, e.g. a device id.
	Name() string
	// Fetch returns the plain bytes of chunk id. They are verified by the
	// store; a Source need not trust its peer.
	Fetch(ctx context.Context, id ID) ([]byte, error)
}
