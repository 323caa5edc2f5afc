package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/internal/identity"
	"github.com/uberan/latus/meta"
)

// openOffline opens the history store of a state dir no daemon is using.
func openOffline(stateDir string) (*meta.DB, error) {
	if _, err := os.Stat(filepath.Join(stateDir, "meta.db")); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no Latus data in %s; run \"latus mount DIR\" first (or pass --state)", stateDir)
	}
	id, err := identity.Load(filepath.Join(stateDir, "identity"))
	if err != nil {
		return nil, err
	}
	return meta.Open(filepath.Join(stateDir, "meta.db"), meta.Options{Device: id.Device})
}

// openOfflineStore opens the chunk store of a state dir no daemon is using.
func openOfflineStore(stateDir string) (*chunks.Store, error) {
	return chunks.Open(chunks.Options{Dir: filepath.Join(stateDir, "chunks"), Capacity: defaultCacheSize(stateDir)})
}
