package integration

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/uberan/latus/internal/fsx"
)

var (
	fsxSeed = flag.Uint64("latus.fsx.seed", 1, "seed of TestFSXTwoDevices")
	fsxOps  = flag.Int("latus.fsx.ops", 500, "operations of TestFSXTwoDevices")
)

// TestFSXTwoDevices runs the file exerciser (internal/fsx) on A while B
// reads the file after each close: B must come to show exactly the content
// A had at that close (A waits, so no later one exists yet).
func TestFSXTwoDevices(t *testing.T) {
	acct := newAccount(t)
	a, b := acct.device(t), acct.device(t)
	dir := "fsx"
	if err := os.Mkdir(a.path(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	st, err := fsx.Run(fsx.Options{
		Dir: a.path(dir), Seed: *fsxSeed, Ops: *fsxOps,
		MaxSize: 4 << 20, // B fetches the whole file after every close
		Closed: func(content []byte, onlyTrunc bool) error {
			return seen(b.path(filepath.Join(dir, fsx.Name)), content, 20*time.Second)
		},
	})
	took := time.Since(start)
	t.Logf("seed %d: %d operations, %d closes in %s; by kind %v", *fsxSeed, st.Ops, st.Closes, took.Round(time.Millisecond), st.ByKind)
	if err != nil {
		t.Fatal(err)
	}
}

// seen polls p until it holds want: B learns of A's commit by a
// notification that the test cannot observe, so it looks.
func seen(p string, want []byte, within time.Duration) error {
	deadline := time.Now().Add(within)
	var got []byte
	var err error
	for time.Now().Before(deadline) {
		got, err = os.ReadFile(p)
		if err == nil && bytes.Equal(got, want) {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("device B shows %d bytes (err %v), not the %d A had at close, after %s", len(got), err, len(want), within)
}
