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

	"github.com/uberan/latus/internal/benchtable"
)

// BenchmarkMount measures Latus beside the native filesystem doing the
// same jobs in one run, and prints the ratios. Absolute times on shared
// machines are noisy; the ratios are the result, recorded for make
// bench's goal table (package benchtable). LATUS_BENCH_MB sets the size
// of the sequential file (default 1024), LATUS_BENCH_FILES the tree size
// (default 15000).
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

		both := func(fn func(dir string)) (latus, nativ time.Duration) {
			nativ = timeIt(func() { fn(native) })
			latus = timeIt(func() { fn(d.mnt) })
			return latus, nativ
		}
		rate := func(id, job, goal, unit string, amount float64, fn func(dir string)) {
			l, n := both(fn)
			benchtable.Record(b, rateRow(id, job, goal, unit, amount, l, n, "native"))
		}
		elapsed := func(id, job, goal string, fn func(dir string)) {
			l, n := both(fn)
			benchtable.Record(b, timeRow(id, job, goal, l, n, "native"))
		}
		rate("", fmt.Sprintf("sequential write %d MiB (cp + sync) vs native", sizeMB), ">= 0.25x", benchtable.MiBPerSec, float64(sizeMB), func(dir string) {
			sh(b, dir, "cp "+src+" big.bin && sync big.bin")
		})
		// Cold: remount and drop the page cache (root only) before reading.
		d.unmount()
		d.mount()
		dropCaches()
		rate("", fmt.Sprintf("cold sequential read %d MiB vs native", sizeMB), "report", benchtable.MiBPerSec, float64(sizeMB), func(dir string) {
			dropCaches()
			sh(b, dir, "cat big.bin > /dev/null")
		})
		// Warm: read each once untimed, so both are in the page cache (the
		// cold runs above dropped the native copy after reading it).
		sh(b, native, "cat big.bin > /dev/null")
		sh(b, d.mnt, "cat big.bin > /dev/null")
		rate("", fmt.Sprintf("warm sequential read %d MiB vs native", sizeMB), ">= 0.5x", benchtable.MiBPerSec, float64(sizeMB), func(dir string) {
			sh(b, dir, "cat big.bin > /dev/null")
		})
		elapsed("tar", fmt.Sprintf("tar x of %d files vs native", nFiles), "", func(dir string) { sh(b, dir, "tar xf "+tarball) })
		// Warm: list each tree once untimed (tar x ran long enough for the
		// kernel's entry and attribute timeouts to expire).
		sh(b, native, "ls -lR tree > /dev/null")
		sh(b, d.mnt, "ls -lR tree > /dev/null")
		elapsed("ls", fmt.Sprintf("ls -lR of the %d-file tree, warm, vs native", nFiles), "", func(dir string) {
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
		rate("stat", fmt.Sprintf("stat of %d files vs native (speed)", len(paths)), "", benchtable.FilesPerSec, float64(len(paths)), func(dir string) {
			for _, p := range paths {
				if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkImportSmallFiles imports 100,000 files of about 14 bytes
// (LATUS_BENCH_IMPORT_FILES changes the count) into a mounted device with
// `latus import`, beside `cp -r` of the same tree natively, and then
// weighs the state dir against the goal: the content plus 512 bytes a
// file. The state dir is counted as du counts it (allocated blocks): a
// small chunk in a file of its own takes a whole block.
func BenchmarkImportSmallFiles(b *testing.B) {
	n := envInt("LATUS_BENCH_IMPORT_FILES", 100_000)
	for range b.N {
		src := smallTree(b, n)
		content := dirUsage(src).size
		cp := timeIt(func() { sh(b, "/", fmt.Sprintf("cp -r %s %s", src, filepath.Join(b.TempDir(), "copy"))) })
		d := newDevice(b)
		d.mount()
		imp := timeIt(func() { d.mustLatus("import", src) })
		d.unmount() // meta.db and the chunk store as they stay on disk
		state := dirUsage(d.state).alloc
		benchtable.Record(b, timeRow("import", fmt.Sprintf("latus import of %d files (%.0f B each) vs cp -r", n, float64(content)/float64(n)), "", imp, cp, "cp -r"))
		benchtable.Record(b, benchtable.Row{
			ID: "import-state", Job: fmt.Sprintf("state dir per file after that import (%s in all)", mib(state)),
			Unit: benchtable.BytesPerFile, Latus: float64(state) / float64(n),
			Base: float64(content)/float64(n) + 512, BaseName: "content + 512 B",
		})
	}
}

// timeRow is a row of two times, Latus's and base's.
func timeRow(id, job, goal string, latus, base time.Duration, baseName string) benchtable.Row {
	return benchtable.Row{ID: id, Job: job, Goal: goal, Unit: benchtable.Seconds,
		Latus: latus.Seconds(), Base: base.Seconds(), BaseName: baseName}
}

// rateRow is a row of two speeds: amount (in unit times seconds) done in
// the time Latus and base took; base 0 means there is no baseline, and
// baseName says why.
func rateRow(id, job, goal, unit string, amount float64, latus, base time.Duration, baseName string) benchtable.Row {
	r := benchtable.Row{ID: id, Job: job, Goal: goal, Unit: unit, Latus: amount / latus.Seconds(), BaseName: baseName}
	if base > 0 {
		r.Base = amount / base.Seconds()
	}
	return r
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
