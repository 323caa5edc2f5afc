package chunks

import (
	"errors"
	"fmt"
	"syscall"
)

var (
	// ErrNotFound is returned when a chunk is not complete in the store.
	ErrNotFound = errors.New("chunks: chunk not in store")
	// ErrComplete is returned by Begin when the chunk is already complete.
	ErrComplete = errors.New("chunks: chunk already complete")
	// ErrInProgress is returned by Begin when another fetch holds a current token.
	ErrInProgress = errors.New("chunks: chunk fetch in progress")
	// ErrStaleToken is returned by Write when the token is not the chunk's current one.
	ErrStaleToken = errors.New("chunks: stale fetch token")
	// ErrCorrupt is returned when bytes do not hash to the chunk's ID; nothing is stored.
	ErrCorrupt = errors.New("chunks: chunk bytes do not match their id")
	// ErrFull is returned when the cap is reached and nothing can be evicted.
	// errors.Is(err, syscall.ENOSPC) holds for it.
	ErrFull error = fullError{}
	// ErrUnavailable is returned by the Fetcher when no source could supply a chunk.
	ErrUnavailable = errors.New("chunks: no source has the chunk")
	// ErrReleasing is returned by Keep and BeginRelease while this device
	// is handing custody of the same chunk to another device.
	ErrReleasing = errors.New("chunks: custody of the chunk is being released")
	// ErrClosed is returned when the store or fetcher is closed.
	ErrClosed = errors.New("chunks: closed")
)

type fullError struct{}

func (fullError) Error() string {
	return "chunks: cache full of chunks this device must keep (no other device has taken them over yet)"
}

func (fullError) Is(target error) bool { return target == syscall.ENOSPC }

func corruptf(id ID, format string, args ...any) error {
	return fmt.Errorf("chunk %s: %s: %w", id.Short(), fmt.Sprintf(format, args...), ErrCorrupt)
}
