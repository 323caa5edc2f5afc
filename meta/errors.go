package meta

import "errors"

var (
	// ErrNotFound is returned when a path has no live version (absent or
	// deleted), when a directory to list does not exist, or when a history
	// entry asked for does not exist.
	ErrNotFound = errors.New("meta: not found")

	// ErrInvalidPath is returned when a path is not relative, clean,
	// slash-separated, free of ".." and NUL, outside ".latus", and within the
	// length limits (see ValidatePath).
	ErrInvalidPath = errors.New("meta: invalid path")

	// ErrInvalidVersion is returned when a version (from Commit or from a
	// peer's page) is malformed: bad kind or mode, chunk refs that do not
	// cover its size, missing origin, zero sequence, undecodable bytes.
	ErrInvalidVersion = errors.New("meta: invalid version")

	// ErrExists is returned when a change creates a path that already has a
	// live version, or renames a non-directory over a directory.
	ErrExists = errors.New("meta: already exists")

	// ErrNotDir is returned when a path's parent, or a directory to list, is
	// not a directory, or when a directory is renamed over a non-directory.
	ErrNotDir = errors.New("meta: not a directory")

	// ErrNotEmpty is returned when a change deletes or replaces a directory
	// that still has live children.
	ErrNotEmpty = errors.New("meta: directory not empty")

	// ErrClosed is returned when the DB has been closed.
	ErrClosed = errors.New("meta: closed")
)
