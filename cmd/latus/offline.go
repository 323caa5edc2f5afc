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

// historyVerb runs a verb on a path's history: through the running daemon
// (bbolt allows one opener) when there is one, else on meta.db directly.
// The path is resolved against the daemon's mount point, or the last one.
func historyVerb(stateDir, arg string, online func(c *controlClient, p string) error, offline func(db *meta.DB, p string) error) error {
	info, err := runningDaemon(stateDir)
	if err != nil {
		return err
	}
	if info != nil {
		p, err := storePath(arg, info.Mountpoint)
		if err != nil {
			return err
		}
		return online(dialControl(stateDir), p)
	}
	p, err := storePath(arg, lastMountpoint(stateDir))
	if err != nil {
		return err
	}
	db, err := openOffline(stateDir)
	if err != nil {
		return err
	}
	defer db.Close()
	return offline(db, p)
}

// history is db.History with a path that never existed as ErrNotFound.
func history(db *meta.DB, p string) ([]meta.FileVersion, error) {
	vs, err := db.History(p)
	if err == nil && len(vs) == 0 {
		err = fmt.Errorf("%s: %w", p, meta.ErrNotFound)
	}
	return vs, err
}
