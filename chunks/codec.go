package chunks

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

// codecs holds one zstd encoder and decoder shared by all goroutines
// (EncodeAll and DecodeAll are safe for concurrent use).
type codecs struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

func newCodecs() (*codecs, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false))
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(MaxChunk), zstd.WithDecoderConcurrency(0))
	if err != nil {
		enc.Close()
		return nil, err
	}
	return &codecs{enc: enc, dec: dec}, nil
}

func (c *codecs) close() {
	c.enc.Close()
	c.dec.Close()
}

// probeSize is the size of each sample encode compresses to guess whether
// a large chunk is worth compressing at all.
const probeSize = 32 << 10

// encBufs holds zstd output buffers: a fresh one per chunk cost an
// allocation and a clear of the chunk's size, more than the probes
// themselves on incompressible data. Buffers grow to the largest chunk
// they held.
var encBufs = sync.Pool{New: func() any { return new([]byte) }}

// encode returns the stored form of plain: zstd when that saves at least
// 10 %, plain otherwise. Large chunks are probed first (two samples) so
// incompressible data (media, archives) does not pay a full compression.
// release gives a zstd form's buffer back once it is written; the stored
// form must not be used after.
func (c *codecs) encode(plain []byte) (codec Codec, stored []byte, release func()) {
	keep := func() {}
	if len(plain) < 64 {
		return CodecNone, plain, keep
	}
	bp := encBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	if len(plain) >= 8*probeSize {
		mid := len(plain) / 2
		buf = c.enc.EncodeAll(plain[:probeSize], buf)
		n := len(buf)
		buf = c.enc.EncodeAll(plain[mid:mid+probeSize], buf[:0])
		n += len(buf)
		if int64(n)*100 > int64(2*probeSize)*97 { // under 3 % saved
			*bp = buf[:0]
			encBufs.Put(bp)
			return CodecNone, plain, keep
		}
	}
	if cap(buf) < len(plain) {
		buf = make([]byte, 0, len(plain))
	}
	z := c.enc.EncodeAll(plain, buf[:0])
	*bp = z[:0]
	if !worthIt(len(z), len(plain)) {
		encBufs.Put(bp)
		return CodecNone, plain, keep
	}
	return CodecZstd, z, func() { encBufs.Put(bp) }
}

func worthIt(stored, plain int) bool { return int64(stored)*10 <= int64(plain)*9 }

// decode returns the plain bytes of a stored form.
func (c *codecs) decode(codec Codec, stored []byte) ([]byte, error) {
	switch codec {
	case CodecNone:
		return stored, nil
	case CodecZstd:
		return c.dec.DecodeAll(stored, nil)
	}
	return nil, fmt.Errorf("unknown codec %d", codec)
}
