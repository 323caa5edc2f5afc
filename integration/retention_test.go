package integration

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uberan/latus/internal/benchtable"
)

// TestSavesUnderCapPruneHistory: on a local-only mount under a 16 MiB cap,
// 40 saves of a 4 MiB file with new random content each all succeed: the
// oldest versions give way. The last content reads back and the log shows
// the pruned history.
func TestSavesUnderCapPruneHistory(t *testing.T) {
	const (
		capBytes = 16 << 20
		size     = 4 << 20
		saves    = 40
	)
	d := newDevice(t)
	d.mount("--cache-size", "16MiB")
	data := make([]byte, size)
	start := time.Now()
	for i := range saves {
		rand.Read(data)
		if err := os.WriteFile(d.path("f.bin"), data, 0o644); err != nil {
			t.Fatalf("save %d of %d: %v", i+1, saves, err)
		}
	}
	t.Logf("%d saves of %d MiB under a %d MiB cap: %s", saves, size>>20, capBytes>>20, time.Since(start).Round(time.Millisecond))
	if got := readFile(t, d.path("f.bin")); !bytes.Equal([]byte(got), data) {
		t.Fatalf("read back %d bytes, not the last save", len(got))
	}
	if n := chunkBytes(t, d); n > capBytes+4<<20 {
		t.Fatalf("%d bytes of chunks on disk under a %d cap", n, capBytes)
	}
	log := d.mustLatus("log", d.path("f.bin"))
	versions := strings.Count(log, "\n") - 1 // header
	if versions < 2 || versions >= saves {
		t.Fatalf("latus log lists %d versions after %d saves under the cap:\n%s", versions, saves, log)
	}
	t.Logf("latus log keeps %d versions:\n%s", versions, log)
	st := d.mustLatus("status")
	m := regexp.MustCompile(`(\d+) because the cache was full`).FindStringSubmatch(st)
	if m == nil {
		t.Fatalf("status does not say what pressure pruned:\n%s", st)
	}
	if n, _ := strconv.Atoi(m[1]); n < saves-versions {
		t.Fatalf("status: %d versions pruned under pressure, log lost %d:\n%s", n, saves-versions, st)
	}
	if n := d.metric(t, `latus_pruned_versions_total\{reason="pressure"\}`); n < float64(saves-versions) {
		t.Fatalf("metrics: %v versions pruned under pressure", n)
	}
	dry := d.mustLatus("prune", "--dry-run")
	t.Logf("latus prune --dry-run: %s", dry)
	if !strings.Contains(dry, "would prune 0 versions") { // all saves are minutes old: the policy keeps them
		t.Fatalf("prune --dry-run: %q", dry)
	}
}

// TestPruneOfflineCollectsLeakedChunks: with no daemon, latus prune works
// on the state dir: chunks no version references (as a crash between
// storing and committing leaves them) are collected, and the dry run says
// so first.
func TestPruneOfflineCollectsLeakedChunks(t *testing.T) {
	d := newDevice(t)
	d.mount()
	data := make([]byte, 3<<20)
	rand.Read(data)
	if err := os.WriteFile(d.path("keep.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	d.unmount()
	// A leaked chunk: in the store's index and on disk, named by no version.
	before := chunkBytes(t, d)
	junk := make([]byte, 1<<20)
	rand.Read(junk)
	leak := filepath.Join(t.TempDir(), "junk.bin")
	if err := os.WriteFile(leak, junk, 0o644); err != nil {
		t.Fatal(err)
	}
	putLeaked(t, d, leak)
	if chunkBytes(t, d) <= before {
		t.Fatal("the leak did not store a chunk")
	}
	dry := d.mustLatus("prune", "--dry-run")
	m := regexp.MustCompile(`would prune 0 versions, .*; (\d+) chunks no version references \(1\.0 MiB\)`).FindStringSubmatch(dry)
	if m == nil {
		t.Fatalf("prune --dry-run: %q", dry)
	}
	t.Logf("latus prune --dry-run: %s", dry)
	out := d.mustLatus("prune")
	if !strings.Contains(out, "pruned 0 versions; collected "+m[1]+" chunks, 1.0 MiB freed") {
		t.Fatalf("prune: %q", out)
	}
	if got := chunkBytes(t, d); got != before {
		t.Fatalf("%d chunk bytes after prune, %d before the leak", got, before)
	}
	d.mount()
	if got := readFile(t, d.path("keep.bin")); !bytes.Equal([]byte(got), data) {
		t.Fatal("kept file damaged by prune")
	}
}

// putLeaked stores files as chunks that no version names, as a crash
// between PutStream and the meta commit leaves them.
func putLeaked(t *testing.T, d *device, files ...string) {
	t.Helper()
	args := append([]string{"run", "./testdata/putchunks", filepath.Join(d.state, "chunks")}, files...)
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("put leaked chunks: %v\n%s", err, out)
	}
}

// BenchmarkStateDirAfterSaves prints the size of a state dir after 1,000
// saves of a 1 MiB file with new content each time, on a local-only mount
// under a 64 MiB cap (LATUS_BENCH_SAVES changes the count): history gives
// way to the cap, so the state dir stays near the cap, and meta.db's share
// is what 1,000 versions cost.
func BenchmarkStateDirAfterSaves(b *testing.B) {
	saves := envInt("LATUS_BENCH_SAVES", 1000)
	for i := 0; i < b.N; i++ {
		d := newDevice(b)
		d.mount("--cache-size", "64MiB")
		data := make([]byte, 1<<20)
		took := timeIt(func() {
			for range saves {
				rand.Read(data)
				if err := os.WriteFile(d.path("f.bin"), data, 0o644); err != nil {
					b.Fatal(err)
				}
			}
		})
		d.unmount()
		state, metaDB := dirUsage(d.state).size, fileBytes(b, filepath.Join(d.state, "meta.db"))
		db, err := historyLen(d)
		if err != nil {
			b.Fatal(err)
		}
		benchtable.Record(b, benchtable.Row{
			Job: fmt.Sprintf("state dir after %d saves of a 1 MiB file (meta.db %s, chunks %s; %d versions kept; %s a save) vs the cap",
				saves, mib(metaDB), mib(chunkBytes(b, d)), db, (took / time.Duration(saves)).Round(10*time.Microsecond)),
			Unit: benchtable.Bytes, Latus: float64(state), Base: 64 << 20, BaseName: "cap", Goal: "report",
		})
		b.ReportMetric(float64(state)/(1<<20), "stateMiB")
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// usage is what the files under a directory hold (size) and what they
// take on disk (alloc, in blocks as du counts them).
type usage struct{ size, alloc int64 }

func dirUsage(dir string) usage {
	var u usage
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if fi, err := e.Info(); err == nil {
				u.size += fi.Size()
				if st, ok := fi.Sys().(*syscall.Stat_t); ok {
					u.alloc += st.Blocks * 512
				}
			}
		}
		return nil
	})
	return u
}

func fileBytes(t testing.TB, p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// historyLen counts the versions latus log lists for f.bin.
func historyLen(d *device) (int, error) {
	out, err := d.latus("log", d.path("f.bin"))
	if err != nil {
		return 0, fmt.Errorf("latus log: %v\n%s", err, out)
	}
	return strings.Count(out, "\n") - 1, nil
}
