package chunks

import (
	"fmt"
	"io"
	"sync"

	cdc "github.com/PlakarKorp/go-cdc-chunkers"
	_ "github.com/PlakarKorp/go-cdc-chunkers/chunkers/fastcdc" // registers the FastCDC chunkers
)

// cdcAlgorithm names the FastCDC variant. The library's plain "fastcdc" is
// its legacy variant whose cut masks are fixed for an 8 KiB average: with
// our 256 KiB minimum it cuts a few KiB past the minimum (average ~290 KiB
// measured). "fastcdc-v1.0.0" derives the masks from NormalSize and gives
// the 1 MiB average we want (~1.2 MiB measured on random data). Cut points
// are part of the data format: every device must use the same variant.
const cdcAlgorithm = "fastcdc-v1.0.0"

// Chunk size bounds of the content-defined chunker.
const (
	MinChunk = 256 << 10
	AvgChunk = 1 << 20
	MaxChunk = 4 << 20
)

// scanBufs holds the chunker's scan buffers: allocating (and zeroing) 8 MiB
// per call made a small file's close cost ~2 ms of memclr, most of the
// time of a `tar x` of small files.
var scanBufs = sync.Pool{New: func() any { b := make([]byte, 2*MaxChunk); return &b }}

// Split cuts r into content-defined chunks with FastCDC and calls fn for
// each, in order. data is valid only during fn. An empty reader yields no
// chunk.
func Split(r io.Reader, fn func(ref Ref, data []byte) error) error {
	return cut(r, func(off int64, data []byte) error {
		return fn(Ref{ID: Sum(data), Offset: off, Size: int64(len(data))}, data)
	})
}

// cut is Split without hashing: PutStream hashes chunks on its workers,
// off the one goroutine that reads and cuts.
func cut(r io.Reader, fn func(off int64, data []byte) error) error {
	buf := scanBufs.Get().(*[]byte)
	defer scanBufs.Put(buf)
	c, err := cdc.NewChunkerBuffer(cdcAlgorithm, r, &cdc.ChunkerOpts{MinSize: MinChunk, NormalSize: AvgChunk, MaxSize: MaxChunk}, *buf)
	if err != nil {
		return fmt.Errorf("split: %w", err)
	}
	var off int64
	for {
		data, err := c.Next()
		if err != nil && err != io.EOF {
			return fmt.Errorf("split at offset %d: %w", off, err)
		}
		if len(data) > 0 {
			if ferr := fn(off, data); ferr != nil {
				return ferr
			}
			off += int64(len(data))
		}
		if err == io.EOF {
			return nil
		}
	}
}
