package chunks

import (
	"encoding/hex"
	"fmt"

	"github.com/zeebo/blake3"
)

// ID is the BLAKE3-256 of a chunk's plain bytes.
type ID [32]byte

// Sum returns the ID of data.
func Sum(data []byte) ID { return ID(blake3.Sum256(data)) }

// ParseID parses the lower-case hex form written by ID.String.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("parse chunk id %q: want %d hex characters", s, 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("parse chunk id %q: %w", s, err)
	}
	return id, nil
}

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short is the first 12 hex characters, for logs.
func (id ID) Short() string { return hex.EncodeToString(id[:6]) }

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return id == ID{} }

// Ref places a chunk in a file.
type Ref struct {
	ID     ID
	Offset int64 // offset of the chunk's first byte in the file
	Size   int64
}

// End is the offset just past the chunk.
func (r Ref) End() int64 { return r.Offset + r.Size }
