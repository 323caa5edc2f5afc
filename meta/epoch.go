package meta

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
)

// Epoch names one opening of this device's index. A state dir restored
// from an older copy gives out positions again that its peers already
// merged up to, and when its clock is behind they land at or below the
// peers' positions: the versions there would never be pulled. So each
// Open starts a new epoch, announced with the index: ID is random and
// Base is the last position the index held when opened. Every position at
// or below Base was given out before this opening, identically in the copy
// and in the original it was taken from (the index only grows), so a peer
// that merged past Base under another epoch may have read an index that
// went on differently after Base: it reads again from Base (PullFrom).
type Epoch struct {
	ID   uint64 // random, never 0
	Base uint64 // last index position at Open
}

// Epoch returns this opening's epoch.
func (db *DB) Epoch() Epoch { return db.epoch }

func newEpochID() uint64 {
	var b [8]byte
	for {
		rand.Read(b[:])
		if id := binary.BigEndian.Uint64(b[:]); id != 0 {
			return id
		}
	}
}

// PullFrom returns the position to ask device's index after, given the
// epoch it announced: PeerPos, lowered to e.Base when device opened its
// index anew since the last pull, and e recorded as device's epoch (see
// Epoch). A zero e.ID (a peer that announces none) leaves PeerPos as is.
func (db *DB) PullFrom(device string, e Epoch) (uint64, error) {
	var pos, stored uint64
	err := db.view(func(t *txn) error {
		pos, stored = t.peerPos(device)
		return nil
	})
	if err != nil || e.ID == 0 || e.ID == stored {
		return pos, wrapPullErr(device, err)
	}
	err = db.update(func(t *txn) error {
		pos, _ = t.peerPos(device)
		if pos > e.Base {
			db.log.Warn("a device reopened its index below the position merged from it (state dir restored from an older copy?); reading it again from there", "peer", device, "merged", pos, "base", e.Base)
			pos = e.Base
		}
		return t.putPeerPos(device, pos, e.ID)
	})
	return pos, wrapPullErr(device, err)
}

func wrapPullErr(device string, err error) error {
	if err != nil {
		return fmt.Errorf("peer position of %s: %w", device, err)
	}
	return nil
}

// peerPos reads device's record: the position merged up to and the epoch
// it was merged under (0 before epochs, or none yet).
func (t *txn) peerPos(device string) (pos, epoch uint64) {
	b := t.devices.Get([]byte(device))
	if len(b) >= 8 {
		pos = binary.BigEndian.Uint64(b)
	}
	if len(b) >= 16 {
		epoch = binary.BigEndian.Uint64(b[8:])
	}
	return pos, epoch
}

func (t *txn) putPeerPos(device string, pos, epoch uint64) error {
	b := binary.BigEndian.AppendUint64(be64(pos), epoch)
	return t.devices.Put([]byte(device), b)
}

// setPeerPos records upTo as merged from device under epoch, unless
// device's recorded epoch is another one (MergeAt).
func (t *txn) setPeerPos(device string, epoch, upTo uint64) error {
	_, stored := t.peerPos(device)
	if epoch != 0 && stored != 0 && epoch != stored {
		return nil
	}
	return t.putPeerPos(device, upTo, stored)
}
