package integration

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkMount measures Latus beside the native filesystem doing the
// same jobs in one run, and prints the ratios. Absolute times on shared
// machines are noisy; the ratios are the result. LATUS_BENCH_MB sets the
// size of the sequential file (default 1024), LATUS_BENCH_FILES the tree
// size (default 15000).
func BenchmarkMount(b *testing.B) {
	sizeMB := envInt("LATUS_BENCH_MB", 1024)
	nFiles := envInt("LATUS_BENCH_FILES", 15000)
	for i := 0; i < b.N; i++ {
		native := b.TempDir()
		d := newDevice(b)
		d.mount()
		src := filepath.Join(b.TempDir(), "src.bin")
		sh(b, "/", fmt.Sprintf("head -c %dM /dev/urandom > %s", sizeMB, src))
		tarball := filepath.Join(b.TempDir(), "tree.tar")
		makeTree(b, tarball, nFiles)

		type row struct {
			job          string
			latus, nativ time.Duration
			goal         string
		}
		var rows []row
		both := func(job, goal string, fn func(dir string)) {
			n := timeIt(func() { fn(native) })
			l := timeIt(func() { fn(d.mnt) })
			rows = append(rows, row{job, l, n, goal})
		}
		both(fmt.Sprintf("sequential write %d MiB", sizeMB), "speed >= 0.25x", func(dir string) {
			sh(b, dir, "cp "+src+" big.bin && sync big.bin")
		})
		// Cold: remount and drop the page cache (root only) before reading.
		d.unmount()
		d.mount()
		dropCaches()
		both("cold sequential read", "report", func(dir string) {
			dropCaches()
			sh(b, dir, "cat big.bin > /dev/null")
		})
		// Warm: read each once untimed, so both are in the page cache (the
		// cold runs above dropped the native copy after reading it).
		sh(b, native, "cat big.bin > /dev/null")
		sh(b, d.mnt, "cat big.bin > /dev/null")
		both("warm sequential read", "speed >= 0.5x", func(dir string) { sh(b, dir, "cat big.bin > /dev/null") })
		both(fmt.Sprintf("tar x of %d files", nFiles), "time <= 3x", func(dir string) { sh(b, dir, "tar xf "+tarball) })
		// Warm: list each tree once untimed (tar x ran long enough for the
		// kernel's entry and attribute timeouts to expire).
		sh(b, native, "ls -lR tree > /dev/null")
		sh(b, d.mnt, "ls -lR tree > /dev/null")
		both("ls -lR of the tree, warm", "time <= 2x", func(dir string) {
			sh(b, dir, "ls -lR tree > /dev/null")
		})
		var paths []string
		filepath.WalkDir(filepath.Join(native, "tree"), func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() && len(paths) < 10000 {
				rel, _ := filepath.Rel(native, p)
				paths = append(paths, rel)
			}
			return nil
		})
		both(fmt.Sprintf("stat of %d files", len(paths)), "report", func(dir string) {
			for _, p := range paths {
				if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
					b.Fatal(err)
				}
			}
		})
		var out strings.Builder
		fmt.Fprintf(&out, "\n%-28s %12s %12s %10s  %s\n", "job", "native", "latus", "ratio", "goal")
		for _, r := range rows {
			ratio := float64(r.nativ) / float64(r.latus) // speed ratio: latus/native throughput
			desc := fmt.Sprintf("%.2fx spd", ratio)
			if strings.HasPrefix(r.goal, "time") {
				desc = fmt.Sprintf("%.2fx time", float64(r.latus)/float64(r.nativ))
			}
			fmt.Fprintf(&out, "%-28s %12s %12s %10s  %s\n", r.job, r.nativ.Round(time.Millisecond), r.latus.Round(time.Millisecond), desc, r.goal)
		}
		fmt.Print(out.String())
		b.Log(out.String())
	}
}

func timeIt(fn func()) time.Duration {
	start := time.Now()
	fn()
	return time.Since(start)
}

func dropCaches() {
	exec.Command("sync").Run()
	os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// makeTree writes a tar of n small files in directories of 100.
func makeTree(b testing.TB, tarball string, n int) {
	dir := b.TempDir()
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, "tree", fmt.Sprintf("d%03d", i/100), fmt.Sprintf("f%05d.txt", i))
		if i%100 == 0 {
			os.MkdirAll(filepath.Dir(p), 0o755)
		}
		if err := os.WriteFile(p, []byte(strings.Repeat(strconv.Itoa(i), 1+i%300)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	sh(b, dir, "tar cf "+tarball+" tree")
}
