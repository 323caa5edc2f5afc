package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/engine"
	"github.com/uberan/latus/fusefs"
	"github.com/uberan/latus/internal/devices"
	"github.com/uberan/latus/internal/identity"
	"github.com/uberan/latus/internal/ignore"
	"github.com/uberan/latus/meta"
	"github.com/uberan/latus/peers"
)

// daemon is a running mount: the stores, the filesystem, and, with an XMPP
// account, the swarm of this person's other devices.
type daemon struct {
	stateDir   string
	mountpoint string
	log        *slog.Logger
	id         *identity.Identity
	db         *meta.DB
	store      *chunks.Store
	fetcher    *chunks.Fetcher
	engine     *engine.Engine
	fsys       *fusefs.FS
	srv        *fuse.Server
	swarm      atomic.Pointer[peers.Swarm]
	xmpp       string
	started    time.Time
	commits    atomic.Int64
	pruner     *pruner
	ignores    *treeIgnores
	matcher    *ignore.Matcher // .latusignore rules over the tree
	watches    watchers        // followed folders (latus import --watch)

	// Work the daemon runs besides FUSE (imports, prefetches, pins): owned
	// here, cancelled and waited for before the stores close.
	jobCtx      context.Context
	cancelJobs  context.CancelFunc
	jobs        sync.WaitGroup
	running     atomic.Int64
	stopControl func()
}

// job runs fn as daemon work that close waits for; running counts it in
// /status while it lasts.
func (d *daemon) job(fn func(ctx context.Context)) {
	d.running.Add(1)
	defer d.running.Add(-1)
	fn(d.jobCtx)
}

// defaultCacheSize is 10 % of the state dir's filesystem, at least 1 GiB.
func defaultCacheSize(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 1 << 30
	}
	return max(int64(st.Blocks)*int64(st.Bsize)/10, 1<<30)
}

// startDaemon opens everything and mounts. On error everything opened so
// far is closed again.
func startDaemon(ctx context.Context, o mountOptions, stateDir, configFile string, log *slog.Logger) (d *daemon, err error) {
	cfg, err := loadConfig(configFile)
	if err != nil {
		return nil, err
	}
	d = &daemon{stateDir: stateDir, mountpoint: o.mountpoint, log: log, started: time.Now(), stopControl: func() {}}
	d.watches.file = filepath.Join(stateDir, watchesName)
	d.jobCtx, d.cancelJobs = context.WithCancel(context.Background())
	var closers []func() error
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()
	if d.id, err = identity.LoadOrCreate(filepath.Join(stateDir, "identity")); err != nil {
		return nil, err
	}
	var eng atomic.Pointer[engine.Engine]  // the store asks it for room; it needs the store
	var store atomic.Pointer[chunks.Store] // meta syncs it before each batch; it needs meta
	d.db, err = meta.Open(filepath.Join(stateDir, "meta.db"), meta.Options{
		Device: d.id.Device, Logger: log.With("pkg", "meta"),
		// Group commit: the chunks a batch of versions references are
		// made durable before the batch (chunks.Store.Sync), and peers are
		// told once it is durable.
		BeforeCommit: func() error {
			if s := store.Load(); s != nil {
				return s.Sync()
			}
			return nil // not open yet: no commit references it
		},
		Durable: func() {
			if e := eng.Load(); e != nil {
				e.Durable()
			}
		},
	})
	if err != nil {
		return nil, err
	}
	closers = append(closers, d.db.Close)
	capacity := o.cacheSize
	if capacity == 0 {
		capacity = defaultCacheSize(stateDir)
	}
	policy, err := cfg.Retention.Policy()
	if err != nil {
		return nil, err
	}
	d.pruner = &pruner{db: d.db, policy: policy, log: log.With("pkg", "retention")}
	d.store, err = chunks.Open(chunks.Options{
		Dir: filepath.Join(stateDir, "chunks"), Capacity: capacity, Logger: log.With("pkg", "chunks"),
		Mark: markRefs(d.db), Relieve: d.pruner.relieve,
		KeepUnreplicated: cfg.XMPP.Enabled(), // other devices may show what only we keep
		Verify: func(ids []chunks.ID) []chunks.ID { // custody leaves only by a proved hand-off
			if e := eng.Load(); e != nil {
				return e.Verify(ids)
			}
			return nil
		},
		HandOff: func(need int64) {
			if e := eng.Load(); e != nil {
				e.HandOff(need)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	d.pruner.store = d.store
	store.Store(d.store)
	closers = append(closers, d.store.Close)
	d.fetcher = chunks.NewFetcher(d.store, chunks.FetcherOptions{
		Sources: func() []chunks.Source {
			if s := d.swarm.Load(); s != nil {
				return s.Sources()
			}
			return nil
		},
		Logger: log.With("pkg", "fetcher"),
	})
	closers = append(closers, d.fetcher.Close)
	d.engine, err = engine.New(engine.Options{
		Store: d.store, Fetcher: d.fetcher, Meta: d.db,
		Replicas: cfg.Replicas, KeepAll: cfg.KeepAll,
		PinsFile: filepath.Join(stateDir, "pins.json"),
		OnCommit: func(vs []meta.FileVersion) {
			d.commits.Add(int64(len(vs)))
			d.ignoresChanged(vs)
		},
		Logger: log.With("pkg", "engine"),
	})
	if err != nil {
		return nil, err
	}
	eng.Store(d.engine)
	d.ignores = newTreeIgnores(d.db, d.fetcher.Get, log.With("pkg", "ignore"))
	d.matcher = ignore.New(d.ignores.source)
	d.fsys, err = fusefs.New(fusefs.Options{
		Meta: d.db, Store: d.store, Fetcher: d.fetcher,
		StagingDir: filepath.Join(stateDir, "staging"),
		OnCommit:   d.engine.Committed,
		Copies:     d.engine.Copies,
		Pin:        d.engine.SetPinned,
		Logger:     log.With("pkg", "fusefs"),
		Ignored:    d.matcher.Ignored,
		LocalDir:   filepath.Join(stateDir, localDirName),
	})
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() error { d.cancelJobs(); return nil })
	d.engine.Start()
	closers = append(closers, d.engine.Close)
	if cfg.XMPP.Enabled() {
		if err := d.startPeers(ctx, cfg); err != nil {
			return nil, err
		}
		closers = append(closers, func() error { return d.swarm.Load().Close() })
	}
	d.srv, err = d.fsys.Mount(o.mountpoint, fusefs.MountOptions{AllowOther: o.allowOther, Debug: o.debug, FsName: "latus:" + stateDir})
	if err != nil {
		return nil, mountError(o.mountpoint, err)
	}
	return d, nil
}

func (d *daemon) startPeers(ctx context.Context, cfg *Config) error {
	pc, err := cfg.XMPP.PeersConfig()
	if err != nil {
		return err
	}
	s, err := peers.Start(ctx, peers.Options{
		Config: pc, Identity: d.id, Meta: d.db, Store: d.store,
		// Runs on the merging goroutine, never inside a FUSE handler:
		// the safe place for kernel notifications.
		OnMerged: func(res meta.MergeResult) {
			d.fsys.Invalidate(res.Applied)
			d.engine.Merged(res)
			d.ignoresChanged(res.Applied)
			d.warmIgnores(res.Applied)
		},
		OnOnline:     d.engine.DeviceOnline,
		OnRemoved:    d.engine.DeviceRemoved,
		Keeper:       d.engine,
		Logger:       d.log.With("pkg", "peers"),
		StartOffline: true, // files are local first: mount with no network
		KnownDevices: filepath.Join(d.stateDir, knownDevicesName),
	})
	if err != nil {
		return fmt.Errorf("connect to XMPP as %s: %w", pc.JID, err)
	}
	var removed []string
	for _, k := range s.Known() {
		if k.State == devices.Removed {
			removed = append(removed, k.Device)
		}
	}
	d.engine.SetRemoved(removed)
	d.swarm.Store(s)
	d.engine.SetNetwork(s)
	d.xmpp = pc.JID
	return nil
}

func mountError(mp string, err error) error {
	if _, serr := os.Stat("/dev/fuse"); serr != nil {
		return fmt.Errorf("mount %s: /dev/fuse is missing: install fuse3 (apt-get install fuse3) or load the fuse module (modprobe fuse)", mp)
	}
	return fmt.Errorf("mount %s: %w", mp, err)
}

// serve runs until the kernel unmounts (fusermount -u) or ctx ends, then
// flushes and closes everything.
func (d *daemon) serve(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		d.srv.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		d.log.Info("signal: flushing and unmounting")
		if err := d.fsys.Flush(); err != nil {
			d.log.Error("flush before unmount", "err", err)
		}
		if err := d.srv.Unmount(); err != nil {
			d.log.Warn("unmount busy; detaching lazily", "err", err)
			exec.Command("fusermount3", "-u", "-z", d.mountpoint).Run()
		}
		<-done
	}
	return d.close()
}

func (d *daemon) close() error {
	// No new requests, running jobs stopped, then the stores.
	d.cancelJobs()
	d.stopControl()
	d.jobs.Wait()
	errs := []error{d.fsys.Flush(), d.engine.Close()}
	if s := d.swarm.Load(); s != nil {
		errs = append(errs, s.Close())
	}
	errs = append(errs, d.fetcher.Close(), d.store.Close(), d.db.Close())
	return errors.Join(errs...)
}

func (d *daemon) status() statusReport {
	st := d.db.Stats()
	u := d.store.Usage()
	fst := d.fetcher.Stats()
	est := d.engine.Stats()
	cst := d.store.CollectStats()
	r := statusReport{
		PID: os.Getpid(), Mountpoint: d.mountpoint, StateDir: d.stateDir, Device: d.id.Device,
		Files: st.Files, Dirs: st.Dirs, Bytes: st.Bytes, Versions: st.Versions, Ignored: countLocal(d.stateDir, ""),
		CacheUsed: u.Used, CacheCap: u.Capacity, Chunks: u.Chunks, LocalOnly: u.LocalOnly, Pinned: u.Pinned,
		XMPP: d.xmpp, StartedAt: d.started, CommitsServed: d.commits.Load(),
		OpenForWrite: d.fsys.OpenForWrite(), Kept: d.fsys.Rescued(), Jobs: int(d.running.Load()),
		Downloading: fst.InFlight, Downloaded: fst.FetchedBytes, FetchFailed: fst.Failed,
		Replicas: d.engine.Replicas(), Replicated: est.Replicated, Released: est.Released, BadProofs: est.BadProofs,
		PrunedPolicy: d.pruner.byPolicy.Load(), PrunedPressure: d.pruner.byPressure.Load(),
		Collected: cst.Chunks, CollectedBytes: cst.Bytes, Retention: describePolicy(d.pruner.policy),
	}
	if last := d.pruner.last.Load(); last != nil {
		r.LastPrune = last.At
	}
	if n, err := d.engine.Unreplicated(); err == nil {
		r.Unreplicated = n
	}
	r.Watches = d.watches.reports()
	if s := d.swarm.Load(); s != nil {
		for _, dev := range s.Devices() {
			r.Devices = append(r.Devices, deviceReport{Device: dev.Device, JID: dev.JID, Online: dev.Online, Transport: dev.Transport, RecvRate: dev.RecvRate})
		}
	}
	return r
}

func (d *daemon) restore(p string, n int) (meta.FileVersion, error) {
	v, err := d.engine.Restore(context.Background(), p, n)
	if err != nil {
		return v, err
	}
	d.fsys.Invalidate([]meta.FileVersion{v})
	return v, nil
}

// ignoresChanged makes the matcher read the .latusignore files vs wrote,
// deleted or renamed again (local commits and merges).
func (d *daemon) ignoresChanged(vs []meta.FileVersion) {
	for _, v := range vs {
		d.matcher.Forget(v.Path)
		if v.From != "" {
			d.matcher.Forget(v.From)
		}
	}
}

// warmIgnores reads the .latusignore files a merge changed now, on the
// merging goroutine (the device that sent them is online), so the mount
// does not wait for one when a file is created.
func (d *daemon) warmIgnores(vs []meta.FileVersion) {
	for _, v := range vs {
		if v.Deleted || path.Base(v.Path) != ignore.FileName {
			continue
		}
		dir := path.Dir(v.Path)
		if dir == "." {
			dir = ""
		}
		d.ignores.source(dir)
	}
}

// restoreDeleted brings back a deleted path (meta.DB.RestoreDeleted) and
// tells the engine and the kernel.
func (d *daemon) restoreDeleted(p string, at time.Time) ([]meta.FileVersion, error) {
	vs, err := d.db.RestoreDeleted(p, at)
	if err != nil {
		return nil, err
	}
	d.engine.Committed(vs)
	d.fsys.Invalidate(vs)
	return vs, nil
}

// metrics registers the daemon's gauges and counters.
func (d *daemon) metrics() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "latus_cache_bytes", Help: "Stored bytes of complete chunks."},
			func() float64 { return float64(d.store.Usage().Used) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "latus_cache_capacity_bytes", Help: "Chunk cache cap."},
			func() float64 { return float64(d.store.Usage().Capacity) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "latus_chunks", Help: "Complete chunks stored."},
			func() float64 { return float64(d.store.Usage().Chunks) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "latus_files", Help: "Live files."},
			func() float64 { return float64(d.db.Stats().Files) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "latus_fetched_bytes_total", Help: "Plain bytes fetched from other devices."},
			func() float64 { return float64(d.fetcher.Stats().FetchedBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "latus_fetches_in_flight", Help: "Chunk fetches in flight."},
			func() float64 { return float64(d.fetcher.Stats().InFlight) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "latus_commits_total", Help: "Local versions committed."},
			func() float64 { return float64(d.commits.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "latus_chunks_waiting_for_copies", Help: "Chunks kept here that fewer devices keep than replicas."},
			func() float64 { return float64(d.engine.Stats().Waiting) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "latus_chunks_replicated_total", Help: "Chunks another device took over and proved."},
			func() float64 { return float64(d.engine.Stats().Replicated) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "latus_chunks_released_total", Help: "Chunks handed to another device under cache pressure."},
			func() float64 { return float64(d.engine.Stats().Released) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "latus_pruned_versions_total", Help: "Old versions pruned by the retention policy or under cache pressure.", ConstLabels: prometheus.Labels{"reason": "policy"}},
			func() float64 { return float64(d.pruner.byPolicy.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "latus_pruned_versions_total", Help: "Old versions pruned by the retention policy or under cache pressure.", ConstLabels: prometheus.Labels{"reason": "pressure"}},
			func() float64 { return float64(d.pruner.byPressure.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "latus_collected_bytes_total", Help: "Stored bytes of unreferenced chunks collected."},
			func() float64 { return float64(d.store.CollectStats().Bytes) }),
	)
	return reg
}
