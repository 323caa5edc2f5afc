package fusefs

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/engine"
	"github.com/uberan/latus/meta"
)

// Mounted is a filesystem mounted by TestMount.
type Mounted struct {
	Dir   string
	FS    *FS
	Meta  *meta.DB
	Store *chunks.Store
}

// TestMount mounts a fresh Latus filesystem (meta.TestDB + chunks.TestStore)
// in a temporary directory and unmounts it when the test ends. storeOpts
// adjust the chunk store, e.g. its capacity.
func TestMount(t testing.TB, storeOpts ...func(*chunks.Options)) *Mounted {
	t.Helper()
	db := meta.TestDB(t, "testdev")
	store := chunks.TestStore(t, storeOpts...)
	fetcher := chunks.TestFetcher(t, store)
	eng, err := engine.New(engine.Options{Store: store, Fetcher: fetcher, Meta: db, Logger: chunks.TestLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := New(Options{
		Meta: db, Store: store, Fetcher: fetcher, StagingDir: filepath.Join(t.TempDir(), "staging"),
		OnCommit: eng.Committed, Copies: eng.Copies, Pin: eng.SetPinned,
		Logger: chunks.TestLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	srv, err := fsys.Mount(dir, MountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The kernel may still hold the mount busy for a moment after the
		// last close: retry, then detach lazily so no test leaves a mount.
		for i := 0; i < 20; i++ {
			if err := srv.Unmount(); err == nil {
				srv.Wait()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		exec.Command("fusermount3", "-u", "-z", dir).Run()
		srv.Wait()
	})
	return &Mounted{Dir: dir, FS: fsys, Meta: db, Store: store}
}
