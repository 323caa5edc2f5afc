package chunks

import (
	"fmt"
	"io"

	cdc "github.com/PlakarKorp/go-cdc-chunkers"
	_ "github.com/PlakarKorp/go-cdc-chunkers/chunkers/fastcdc" // registers "fastcdc"
)

// Chunk size bounds of the content-defined chunker.
const (
	MinChunk = 256 << 10
	AvgChunk = 1 << 20
	MaxChunk = 4 << 20
)

// Split cuts r into content-defined chunks with FastCDC and calls fn for
// each, in order. data is valid only during fn. An empty reader yields no
// chunk.
func Split(r io.Reader, fn func(ref Ref, data []byte) error) error {
	c, err := cdc.NewChunker("fastcdc", r, &cdc.ChunkerOpts{MinSize: MinChunk, NormalSize: AvgChunk, MaxSize: MaxChunk})
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
			ref := Ref{ID: Sum(data), Offset: off, Size: int64(len(data))}
			if ferr := fn(ref, data); ferr != nil {
				return ferr
			}
			off += int64(len(data))
		}
		if err == io.EOF {
			return nil
		}
	}
}
