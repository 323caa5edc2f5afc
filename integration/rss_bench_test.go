package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/uberan/latus/internal/benchtable"
	"github.com/uberan/latus/internal/identity"
	"github.com/uberan/latus/meta"
)

// rssGoal is the daemon's resident memory goal with 1M files in meta,
// after a full `ls -R` of the mount.
const rssGoal = 500 << 20

// BenchmarkRSS builds a meta.db of 100k files (and, with LATUS_BENCH_1M=1,
// of 1M: writing it takes minutes) by committing versions in big batches,
// mounts it with the built binary, lists the whole tree and prints the
// daemon's memory: VmRSS (RssAnon is the Go heap and stacks, RssFile
// mostly meta.db's mapped pages) and VmHWM, its peak, beside the goal.
func BenchmarkRSS(b *testing.B) {
	sizes := []int{100_000}
	if os.Getenv("LATUS_BENCH_1M") != "" {
		sizes = append(sizes, 1_000_000)
	}
	for i := 0; i < b.N; i++ {
		var out strings.Builder
		fmt.Fprintf(&out, "\n%-10s %-8s %9s %10s %10s %10s %9s  %s\n", "files", "job", "time", "VmRSS", "RssAnon", "RssFile", "VmHWM", "goal")
		for _, n := range sizes {
			d := newDevice(b)
			start := time.Now()
			buildMeta(b, d.state, n)
			b.Logf("meta with %d files written in %s", n, time.Since(start).Round(time.Second))
			d.mount()
			pid := d.daemonPID()
			jobs := []string{"ls -R"}
			if n <= 100_000 {
				jobs = append(jobs, "ls -lR")
			}
			for _, job := range jobs {
				t := timeIt(func() { sh(b, d.mnt, job+" > /dev/null") })
				st := procStatus(b, pid)
				goal := fmt.Sprintf("VmHWM <= %d MiB at 1M files", rssGoal>>20)
				if n >= 1_000_000 {
					goal = fmt.Sprintf("VmHWM <= %d MiB", rssGoal>>20)
				}
				fmt.Fprintf(&out, "%-10d %-8s %9s %10s %10s %10s %9s  %s\n", n, job, t.Round(time.Millisecond),
					mib(st["VmRSS"]), mib(st["RssAnon"]), mib(st["RssFile"]), mib(st["VmHWM"]), goal)
				if job == "ls -R" {
					id := map[int]string{100_000: "rss-100k", 1_000_000: "rss-1m"}[n]
					benchtable.Record(b, benchtable.Row{ID: id, Job: fmt.Sprintf("daemon VmHWM after ls -R of %d files", n),
						Unit: benchtable.Bytes, Latus: float64(st["VmHWM"]), BaseName: "none"})
				}
			}
			d.unmount()
		}
		fmt.Print(out.String())
		b.Log(out.String())
	}
}

// buildMeta writes n files, 1,000 per folder, into the meta.db of the
// state dir the daemon will open (its device id comes from the identity
// made here). Each file has one chunk ref, as a small file does; the
// chunks themselves are not stored (listing never reads them).
func buildMeta(b *testing.B, state string, n int) {
	b.Helper()
	id, err := identity.LoadOrCreate(filepath.Join(state, "identity"))
	if err != nil {
		b.Fatal(err)
	}
	db, err := meta.Open(filepath.Join(state, "meta.db"), meta.Options{Device: id.Device})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const perDir, batch = 1000, 20_000
	mtime := time.Now()
	var changes []meta.Change
	for i := 0; i < n; i++ {
		dir := fmt.Sprintf("d%04d", i/perDir)
		if i%perDir == 0 {
			changes = append(changes, meta.Change{Kind: meta.Created, Path: dir, File: meta.DirContent(mtime)})
		}
		p := fmt.Sprintf("%s/file-%07d.txt", dir, i)
		changes = append(changes, meta.Change{Kind: meta.Created, Path: p, File: meta.FileContent([]byte(p), mtime)})
		if len(changes) >= batch || i == n-1 {
			if _, err := db.Commit(changes); err != nil {
				b.Fatal(err)
			}
			changes = changes[:0]
		}
	}
}

// procStatus reads the kB fields of /proc/PID/status.
func procStatus(b *testing.B, pid int) map[string]int64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	st := map[string]int64{}
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(line, ":")
		f := strings.Fields(v)
		if !ok || len(f) != 2 || f[1] != "kB" {
			continue
		}
		if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			st[k] = kb << 10
		}
	}
	return st
}
