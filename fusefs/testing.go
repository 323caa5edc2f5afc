package fusefs

import (
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/engine"
	"github.com/uberan/latus/meta"
)

// Mounted is a filesystem mounted by TestMount or MountState.
type Mounted struct {
	Dir   string
	FS    *FS
	Meta  *meta.DB
	Store *chunks.Store

	unmount func()
	once    sync.Once
}

// Unmount flushes and unmounts now (cleanup does it otherwise), and for
// MountState closes the stores, as the daemon does.
func (m *Mounted) Unmount() { m.once.Do(m.unmount) }

// TestMount mounts a fresh Latus filesystem (meta.TestDB + chunks.TestStore)
// in a temporary directory and unmounts it when the test ends. storeOpts
// adjust the chunk store, e.g. its capacity.
func TestMount(t testing.TB, storeOpts ...func(*chunks.Options)) *Mounted {
	t.Helper()
	return testMountWith(t, nil, storeOpts...)
}

// testMountWith is TestMount whose filesystem options fsOpt adjusts
// (nil: none).
func testMountWith(t testing.TB, fsOpt func(*Options), storeOpts ...func(*chunks.Options)) *Mounted {
	t.Helper()
	return testMountOpts(t, fsOpt, MountOptions{}, storeOpts...)
}

// testMountOpts is testMountWith mounting with mo.
func testMountOpts(t testing.TB, fsOpt func(*Options), mo MountOptions, storeOpts ...func(*chunks.Options)) *Mounted {
	t.Helper()
	return testMountDBOpts(t, meta.TestDB(t, "testdev"), fsOpt, mo, storeOpts...)
}

// testMountDB is testMountWith over the history store db.
func testMountDB(t testing.TB, db *meta.DB, fsOpt func(*Options), storeOpts ...func(*chunks.Options)) *Mounted {
	t.Helper()
	return testMountDBOpts(t, db, fsOpt, MountOptions{}, storeOpts...)
}

// testMountDBOpts is testMountOpts over the history store db.
func testMountDBOpts(t testing.TB, db *meta.DB, fsOpt func(*Options), mo MountOptions, storeOpts ...func(*chunks.Options)) *Mounted {
	t.Helper()
	store := chunks.TestStore(t, storeOpts...)
	fetcher := chunks.TestFetcher(t, store)
	eng, err := engine.New(engine.Options{Store: store, Fetcher: fetcher, Meta: db, Logger: chunks.TestLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Meta: db, Store: store, Fetcher: fetcher, StagingDir: filepath.Join(t.TempDir(), "staging"),
		OnCommit: eng.Committed, Copies: eng.Copies, Pin: eng.SetPinned,
		Logger: chunks.TestLogger(t),
	}
	if fsOpt != nil {
		fsOpt(&opts)
	}
	fsys, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	srv, err := fsys.Mount(dir, mo)
	if err != nil {
		t.Fatal(err)
	}
	m := &Mounted{Dir: dir, FS: fsys, Meta: db, Store: store, unmount: func() { unmountServer(srv, dir) }}
	t.Cleanup(m.Unmount)
	return m
}

// MountState opens the stores under state as the daemon does (meta.db,
// chunks/, staging/) and mounts them on mnt. Unmount, or the test's
// cleanup, flushes, unmounts and closes them; mounting the same state
// again is how a test restarts the daemon.
func MountState(t testing.TB, state, mnt string, storeOpts ...func(*chunks.Options)) *Mounted {
	t.Helper()
	log := chunks.TestLogger(t)
	db, err := meta.Open(filepath.Join(state, "meta.db"), meta.Options{Device: "testdev", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	so := chunks.Options{Dir: filepath.Join(state, "chunks"), Logger: log}
	for _, opt := range storeOpts {
		opt(&so)
	}
	store, err := chunks.Open(so)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	fetcher := chunks.NewFetcher(store, chunks.FetcherOptions{Sources: func() []chunks.Source { return nil }, Logger: log})
	closeAll := func() {
		fetcher.Close()
		store.Close()
		db.Close()
	}
	fsys, err := New(Options{Meta: db, Store: store, Fetcher: fetcher, StagingDir: filepath.Join(state, "staging"), Logger: log})
	if err != nil {
		closeAll()
		t.Fatal(err)
	}
	srv, err := fsys.Mount(mnt, MountOptions{})
	if err != nil {
		closeAll()
		t.Fatal(err)
	}
	m := &Mounted{Dir: mnt, FS: fsys, Meta: db, Store: store, unmount: func() {
		if err := fsys.Flush(); err != nil {
			t.Logf("flush before unmount: %v", err) // the daemon logs it too; tests check content
		}
		unmountServer(srv, mnt)
		closeAll()
	}}
	t.Cleanup(m.Unmount)
	return m
}

// unmountServer unmounts and waits for the server. The kernel may still
// hold the mount busy for a moment after the last close: retry, then
// detach lazily so no test leaves a mount.
func unmountServer(srv *fuse.Server, dir string) {
	for i := 0; i < 20; i++ {
		if err := srv.Unmount(); err == nil {
			srv.Wait()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	exec.Command("fusermount3", "-u", "-z", dir).Run()
	srv.Wait()
}
