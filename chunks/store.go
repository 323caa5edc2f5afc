package chunks

import (
	"errors"
	"io"
	"log/slog"
)

// State is a chunk's state in the store.
type State int

const (
	// Missing: the store has no bytes and no fetch in progress.
	Missing State = iota
	// InProgress: a fetch holds a current token.
	InProgress
	// Complete: the bytes are stored and verified.
	Complete
)

func (s State) String() string {
	switch s {
	case Missing:
		return "missing"
	case InProgress:
		return "in-progress"
	case Complete:
		return "complete"
	}
	return "state(?)"
}

// Token identifies one fetch of a chunk. Its high 32 bits are the process
// epoch, so tokens from a previous process are never current.
type Token uint64

// Codec is how a chunk is stored on disk.
type Codec uint8

const (
	CodecNone Codec = iota
	CodecZstd
)

// Options configure a Store.
type Options struct {
	Dir      string // <state>/chunks
	Capacity int64  // hard byte cap on stored bytes; 0 = no cap
	MemCache int64  // bytes of the plain-chunk LRU; 0 = 64 MiB
	Logger   *slog.Logger
}

// Usage describes how full the store is.
type Usage struct {
	Used, Capacity            int64
	Chunks, Pinned, LocalOnly int
}

// Store is the chunk store.
type Store struct{}

var errTODO = errors.New("chunks: not implemented yet")

func Open(opts Options) (*Store, error)                            { return nil, errTODO }
func (*Store) Close() error                                        { return nil }
func (*Store) Status(id ID) (State, error)                         { return Missing, errTODO }
func (*Store) Begin(id ID) (Token, error)                          { return 0, errTODO }
func (*Store) Cancel(id ID, t Token) error                         { return errTODO }
func (*Store) Write(id ID, t Token, plain []byte) error            { return errTODO }
func (*Store) WriteStored(id ID, t Token, c Codec, b []byte) error { return errTODO }
func (*Store) Read(id ID) ([]byte, error)                          { return nil, errTODO }
func (*Store) ReadStored(id ID) (Codec, []byte, error)             { return 0, nil, errTODO }
func (*Store) Put(plain []byte) (ID, error)                        { return ID{}, errTODO }
func (*Store) PutStream(r io.Reader) ([]Ref, ID, int64, error)     { return nil, ID{}, 0, errTODO }
func (*Store) Remove(id ID) error                                  { return errTODO }
func (*Store) MarkHeld(id ID, device string) error                 { return errTODO }
func (*Store) Holders(id ID) ([]string, error)                     { return nil, errTODO }
func (*Store) Pin(id ID) error                                     { return errTODO }
func (*Store) Unpin(id ID) error                                   { return errTODO }
func (*Store) Usage() Usage                                        { return Usage{} }
