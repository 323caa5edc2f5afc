package engine

import (
	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

// Residency says how much of a file's content is stored on this device.
type Residency int

const (
	Local   Residency = iota // every chunk (a file without chunks, empty or inline, too)
	Partial                  // some chunks
	Remote                   // none: read from other devices
)

func (r Residency) String() string {
	switch r {
	case Local:
		return "local"
	case Partial:
		return "partial"
	case Remote:
		return "remote"
	}
	return "unknown"
}

// Residency says how much of v is stored here.
func (e *Engine) Residency(v meta.FileVersion) (Residency, error) {
	have := 0
	for _, r := range v.Chunks {
		st, err := e.store.Status(r.ID)
		if err != nil {
			return Remote, err
		}
		if st == chunks.Complete {
			have++
		}
	}
	switch {
	case have == len(v.Chunks):
		return Local, nil
	case have == 0:
		return Remote, nil
	}
	return Partial, nil
}

// Walk calls fn for every live file at or under p ("" is the root).
func (e *Engine) Walk(p string, fn func(meta.FileVersion)) error { return e.walk(p, fn) }
