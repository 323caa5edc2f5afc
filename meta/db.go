package meta

import (
	"context"
	"errors"
	"log/slog"

	"github.com/uberan/latus/chunks"
)

// errUnimplemented marks methods whose body lands in the next commit.
var errUnimplemented = errors.New("meta: not implemented yet")

// DB is the history store of one device, backed by a bbolt file.
// Its methods are safe for concurrent use.
type DB struct {
	device string
	log    *slog.Logger
}

// Open opens (creating if needed) the history store at path for device
// opts.Device.
func Open(path string, opts Options) (*DB, error) { return nil, errUnimplemented }

// Close closes the store; later calls return ErrClosed.
func (db *DB) Close() error { return errUnimplemented }

// Device returns this device's id.
func (db *DB) Device() string { return db.device }

// Commit records local changes in one transaction and returns the versions
// it made.
func (db *DB) Commit(changes []Change) ([]FileVersion, error) { return nil, errUnimplemented }

// Lookup returns the live version of path; ErrNotFound if absent or deleted.
func (db *DB) Lookup(p string) (FileVersion, error) { return FileVersion{}, errUnimplemented }

// List returns the live children of dir ("" = root), sorted by name.
func (db *DB) List(dir string) ([]FileVersion, error) { return nil, errUnimplemented }

// History returns every version of path, oldest first.
func (db *DB) History(p string) ([]FileVersion, error) { return nil, errUnimplemented }

// Restore commits the content of History(path)[n-1] as a new version.
func (db *DB) Restore(p string, n int) (FileVersion, error) { return FileVersion{}, errUnimplemented }

// IndexSeq returns the position of the newest record in this device's index.
func (db *DB) IndexSeq() uint64 { return 0 }

// Since pages out this device's index: every version it recorded (local or
// merged) after position pos, in order, at most limit of them.
func (db *DB) Since(pos uint64, limit int) (vs []FileVersion, next uint64, err error) {
	return nil, pos, errUnimplemented
}

// PeerPos returns the highest index position received from device.
func (db *DB) PeerPos(device string) (uint64, error) { return 0, errUnimplemented }

// Merge applies versions paged from device's index up to position upTo, in
// one transaction.
func (db *DB) Merge(device string, vs []FileVersion, upTo uint64) (MergeResult, error) {
	return MergeResult{}, errUnimplemented
}

// Stats summarises the live tree and the history.
func (db *DB) Stats() Stats { return Stats{} }

// Refs calls fn once for every chunk referenced by a kept version.
func (db *DB) Refs(fn func(chunks.ID) error) error { return errUnimplemented }

// ValidatePath reports whether p is an acceptable path for the tree.
func ValidatePath(p string) error { return errUnimplemented }

// Import walks dir into db (root of the tree), chunking files into store,
// committing every 1,000 files.
func Import(ctx context.Context, dir string, db *DB, store Putter, progress func(ImportProgress)) error {
	return errUnimplemented
}
