package chunks

import (
	"context"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Source supplies chunks this device does not have. peers implements it,
// one Source per reachable device.
type Source interface {
	// Name identifies the source in logs, e.g. a device id.
	Name() string
	// Fetch returns chunk id in the form it travelled in, checked by
	// Verify: a Source need not trust its peer, and the store trusts only
	// a Verified.
	Fetch(ctx context.Context, id ID) (Verified, error)
}

// Verified is a chunk whose bytes were checked against its ID, in the form
// it travelled in (plain or one zstd frame) and plain. Only Verify makes
// one, so a chunk that reached the store through a Source was hashed
// exactly once.
type Verified struct {
	id     ID
	codec  Codec
	stored []byte // the travelled form; plain when codec is CodecNone
	plain  []byte
}

// ID returns the chunk's ID.
func (v Verified) ID() ID { return v.id }

// Plain returns the chunk's plain bytes. The caller must not modify them.
func (v Verified) Plain() []byte { return v.plain }

// Stored returns the form the chunk travelled in and its codec.
func (v Verified) Stored() (Codec, []byte) { return v.codec, v.stored }

// maxStored bounds a zstd form: a frame that grew a maximum chunk by more
// than an eighth is not one a store wrote.
const maxStored = MaxChunk + MaxChunk/8

// verifyDecoder decodes zstd forms for Verify. A zstd.Decoder used only
// through DecodeAll starts no goroutines and is safe for concurrent use.
var verifyDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderMaxMemory(MaxChunk), zstd.WithDecoderConcurrency(0))
})

// Verify checks that stored, in codec c, is chunk id: a zstd form is
// decoded (bounded to MaxChunk) and the plain bytes are hashed. It returns
// an error wrapping ErrCorrupt when they are not id's bytes. stored is
// kept, not copied.
func Verify(id ID, c Codec, stored []byte) (Verified, error) {
	plain := stored
	switch c {
	case CodecNone:
	case CodecZstd:
		if len(stored) > maxStored {
			return Verified{}, corruptf(id, "%d stored bytes, more than a maximum chunk", len(stored))
		}
		dec, err := verifyDecoder()
		if err != nil {
			return Verified{}, fmt.Errorf("verify chunk %s: %w", id.Short(), err)
		}
		if plain, err = dec.DecodeAll(stored, nil); err != nil {
			return Verified{}, corruptf(id, "decode zstd: %v", err)
		}
	default:
		return Verified{}, corruptf(id, "unknown codec %d", c)
	}
	if len(plain) > MaxChunk {
		return Verified{}, corruptf(id, "%d bytes, more than the %d-byte maximum chunk", len(plain), MaxChunk)
	}
	if got := Sum(plain); got != id {
		return Verified{}, corruptf(id, "%d bytes hash to %s", len(plain), got.Short())
	}
	if plain == nil {
		plain = []byte{} // an empty chunk is still a chunk (and not a zero Verified)
	}
	return Verified{id: id, codec: c, stored: stored, plain: plain}, nil
}
