package integration

import (
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/uberan/latus/chunks"
	"time"
)

var (
	randomSeeds = flag.Int("latus.seeds", 1, "how many seeds TestRandomThreeDevices runs (CI runs 1)")
	randomOps   = flag.Int("latus.ops", 40, "operations per seed in TestRandomThreeDevices")
)

// tree reads every file under a mount as path → content ("->target" for
// symlinks, "/" for directories).
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		if e.IsDir() {
			out[rel] = "/"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Logf("reading %s: %v", p, err)
			return err
		}
		out[rel] = digest(b)
		return nil
	})
	if err != nil {
		return nil
	}
	return out
}

// digest is small content itself and a hash of large content, so trees of
// big files compare and print cheaply.
func digest(b []byte) string {
	if len(b) <= 256 {
		return string(b)
	}
	return fmt.Sprintf("%d bytes blake3 %s", len(b), chunks.Sum(b).Short())
}

func sameTrees(t *testing.T, devs []*device) (map[string]string, bool) {
	first := tree(t, devs[0].mnt)
	if first == nil {
		return nil, false
	}
	for _, d := range devs[1:] {
		other := tree(t, d.mnt)
		if other == nil || fmt.Sprint(first) != fmt.Sprint(other) {
			return nil, false
		}
	}
	return first, true
}

// TestRandomThreeDevices has three devices create, edit, rename and delete
// files at random, through network partitions (Prosody killed) and daemon
// restarts, and checks that they end with identical trees in which every
// edit made during a partition survives as a file or a conflict copy.
// `go test ./integration -run Random -latus.seeds 20 -latus.ops 200` runs more.
func TestRandomThreeDevices(t *testing.T) {
	for seed := 1; seed <= *randomSeeds; seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) { randomRun(t, uint64(seed), *randomOps) })
	}
}

func randomRun(t *testing.T, seed uint64, ops int) {
	rng := rand.New(rand.NewPCG(seed, 42))
	acct := newAccount(t)
	// Small caches: eviction, custody hand-offs and history pruning are
	// part of every run.
	devs := []*device{acct.device(t, "--cache-size", "24MiB"), acct.device(t, "--cache-size", "24MiB"), acct.device(t, "--cache-size", "24MiB")}
	connected := true
	// pending[i] holds, per path, the last content device i wrote during
	// the current partition that it has not itself changed since.
	pending := make([]map[string]string, len(devs))
	reset := func() {
		for i := range pending {
			pending[i] = map[string]string{}
		}
	}
	reset()
	converge := func(what string) map[string]string {
		deadline := time.Now().Add(60 * time.Second)
		for {
			if final, ok := sameTrees(t, devs); ok {
				return final
			}
			if time.Now().After(deadline) {
				for i, d := range devs {
					t.Logf("device %d tree: %v", i, tree(t, d.mnt))
					t.Logf("device %d status:\n%s", i, d.mustLatus("status"))
				}
				t.Fatalf("seed %d: %s: trees differ after 60s", seed, what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	checkPending := func(final map[string]string) {
		have := map[string]bool{}
		for _, c := range final {
			have[c] = true
		}
		for i, m := range pending {
			for p, c := range m {
				if !have[c] {
					t.Fatalf("seed %d: device %d's edit of %s (%q) was lost; final tree %v", seed, i, p, c, final)
				}
			}
		}
		reset()
	}
	for op := 0; op < ops; op++ {
		i := rng.IntN(len(devs))
		d := devs[i]
		names := listFiles(t, d.mnt)
		switch r := rng.IntN(100); {
		case r < 35 || len(names) == 0: // create or overwrite
			p := fmt.Sprintf("f%d.txt", rng.IntN(6))
			if rng.IntN(3) == 0 {
				os.MkdirAll(d.path("dir"), 0o755)
				p = "dir/" + p
			}
			data := []byte(fmt.Sprintf("seed %d op %d by device %d", seed, op, i))
			if rng.IntN(4) == 0 { // a big file: several chunks
				data = append(data, chunks.RandomBytes(rng.Uint64(), 1<<20+rng.IntN(2<<20))...)
			}
			if err := os.WriteFile(d.path(p), data, 0o644); err != nil {
				t.Fatalf("op %d: write %s (%d bytes) on %d: %v", op, p, len(data), i, err)
			}
			pending[i][p] = digest(data)
		case r < 55: // rename
			from := names[rng.IntN(len(names))]
			to := fmt.Sprintf("r%d.txt", rng.IntN(6))
			if from == to {
				continue
			}
			if err := os.Rename(d.path(from), d.path(to)); err != nil {
				t.Fatalf("op %d: rename %s → %s on %d: %v", op, from, to, i, err)
			}
			if c, ok := pending[i][from]; ok {
				pending[i][to] = c
				delete(pending[i], from)
			} else {
				delete(pending[i], to)
			}
		case r < 70: // delete
			p := names[rng.IntN(len(names))]
			if err := os.Remove(d.path(p)); err != nil {
				t.Fatalf("op %d: delete %s on %d: %v", op, p, i, err)
			}
			delete(pending[i], p)
		case r < 85: // partition or heal
			if connected {
				final := converge(fmt.Sprintf("op %d: converge before partition", op))
				checkPending(final)
				acct.srv.Kill()
			} else {
				acct.srv.Restart(t)
				checkPending(converge(fmt.Sprintf("op %d: converge after partition", op)))
			}
			connected = !connected
		default: // restart one daemon
			d.unmount()
			d.mount()
		}
		if connected {
			// Connected devices see each change before the next: no
			// concurrency, so later edits rightly replace earlier ones.
			converge(fmt.Sprintf("op %d: converge", op))
			reset()
		}
	}
	if !connected {
		acct.srv.Restart(t)
	}
	final := converge("final convergence")
	checkPending(final)
	// Every chunk of every current version reads back on every device:
	// converge read every file everywhere, and a fresh device reads them too.
	devs = append(devs, acct.device(t, "--cache-size", "24MiB"))
	got := converge("a new device reads the final tree")
	if fmt.Sprint(got) != fmt.Sprint(final) {
		// A merge still in flight when the trees first matched may add a
		// conflict copy; no content may go missing.
		t.Logf("seed %d: the tree changed after the final convergence:\nbefore %v\nafter  %v", seed, final, got)
		have := map[string]bool{}
		for _, c := range got {
			have[c] = true
		}
		for p, c := range final {
			if !have[c] {
				t.Fatalf("seed %d: %s's content %q is gone once a new device joined", seed, p, c)
			}
		}
	}
	t.Logf("seed %d: %d ops, final tree of %d entries", seed, ops, len(final))
}

// listFiles lists the regular files under root, relative and sorted.
func listFiles(t *testing.T, root string) []string {
	var out []string
	filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			if !strings.Contains(rel, "sync-conflict") {
				out = append(out, rel)
			}
		}
		return nil
	})
	sort.Strings(out)
	return out
}
