package sim

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/engine"
	"github.com/uberan/latus/meta"
)

// device is one simulated device: its real stores and engine over a state
// dir, and its view of the simulated network.
type device struct {
	name string
	dir  string // state dir: meta.db and chunks/
	snap string // a copy of dir taken by a snapshot step; "" = none

	meta    *meta.DB
	store   *chunks.Store
	fetcher *chunks.Fetcher
	eng     *engine.Engine
}

// open opens the device's stores and engine from its state dir.
func (s *Sim) open(d *device) error {
	db, err := meta.Open(filepath.Join(d.dir, "meta.db"), meta.Options{Device: d.name, Logger: s.log, Now: s.now})
	if err != nil {
		return err
	}
	d.meta = db
	var verify func([]chunks.ID) []chunks.ID // set once the engine exists
	st, err := chunks.Open(chunks.Options{
		Verify: func(ids []chunks.ID) []chunks.ID {
			if verify == nil {
				return nil
			}
			return verify(ids)
		},
		Dir:      filepath.Join(d.dir, "chunks"),
		Capacity: s.cfg.Capacity,
		MemCache: 4 << 20,
		Logger:   s.log,
		Mark: func(keep func(chunks.ID)) error {
			return db.Refs(func(id chunks.ID) error { keep(id); return nil })
		},
		Relieve: func(need int64) bool {
			res, err := db.PruneOldest(need, d.store.Stored)
			return err == nil && res.Versions > 0
		},
		HandOff:          func(need int64) { d.eng.HandOff(need) },
		KeepUnreplicated: true, // as the daemon with peers
	})
	if err != nil {
		db.Close()
		return err
	}
	d.store = st
	d.fetcher = chunks.NewFetcher(st, chunks.FetcherOptions{Parallel: 1, Sources: func() []chunks.Source { return s.sources(d) }, Logger: s.log})
	e, err := engine.New(engine.Options{Store: st, Fetcher: d.fetcher, Meta: db, Replicas: s.cfg.Replicas, Logger: s.log, KeepsInFlight: 1})
	if err != nil {
		d.fetcher.Close()
		st.Close()
		db.Close()
		return err
	}
	d.eng = e
	e.SetNetwork(simNet{s, d})
	verify = e.Verify
	return nil
}

// close closes what open opened. Every commit is already synced (bbolt),
// so closing loses exactly what a kill -9 between two steps loses: the
// in-memory state (releases in progress, full marks, caches).
func (d *device) close() error {
	if d.eng == nil {
		return nil
	}
	err := errors.Join(d.eng.Close(), d.fetcher.Close(), d.store.Close(), d.meta.Close())
	d.eng, d.fetcher, d.store, d.meta = nil, nil, nil, nil
	return err
}

// copyDir copies the regular files under src to dst (created).
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if de.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o600)
	})
}

func (s *Sim) newDevice() (*device, error) {
	s.nextDev++
	d := &device{name: fmt.Sprintf("d%d", s.nextDev)}
	d.dir = filepath.Join(s.base, d.name)
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return nil, err
	}
	if err := s.open(d); err != nil {
		return nil, err
	}
	s.devs = append(s.devs, d)
	return d, nil
}

// discardLogger drops everything: the engines log at warn level on
// refusals the simulator provokes on purpose.
var discardLogger = slog.New(slog.DiscardHandler)
