package engine

import "errors"

var (
	// ErrNotPinned is returned when a path to unpin is not pinned.
	ErrNotPinned = errors.New("engine: not pinned")

	// ErrPinnedAbove is returned when a path to unpin is kept by a pinned
	// folder above it: pins cover whole subtrees and have no exceptions.
	ErrPinnedAbove = errors.New("engine: a folder above it is pinned")
)
