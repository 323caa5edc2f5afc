package meta

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/internal/benchtable"
)

// BenchmarkCommit commits 100,000 new files in batches of 1,000 (the
// Import batch) into a fresh store with synced commits. Goal: ≥ 50,000
// versions/s. "import-order" commits each directory's files together, as
// Import (and a peer paging through another's index) does; "scattered"
// spreads every batch over all 100 directories, the worst case for the
// B+trees (every batch dirties pages all over them).
func BenchmarkCommit(b *testing.B) {
	b.Run("import-order", func(b *testing.B) {
		benchCommit(b, func(n int) string { return fmt.Sprintf("dir%03d/file-%06d.txt", n/1000, n) })
	})
	b.Run("scattered", func(b *testing.B) {
		benchCommit(b, func(n int) string { return fmt.Sprintf("dir%03d/file-%06d.txt", n%100, n) })
	})
}

func benchCommit(b *testing.B, name func(n int) string) {
	const total, batch, dirs = 100_000, 1000, 100
	var elapsed time.Duration
	for range b.N {
		b.StopTimer()
		db, err := Open(filepath.Join(b.TempDir(), "meta.db"), Options{Device: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		var mk []Change
		for d := range dirs {
			mk = append(mk, Change{Kind: Created, Path: fmt.Sprintf("dir%03d", d), File: DirContent(t0)})
		}
		if _, err := db.Commit(mk); err != nil {
			b.Fatal(err)
		}
		content := FileContent([]byte("some small file content"), t0)
		changes := make([]Change, batch)
		b.StartTimer()
		start := time.Now()
		for i := 0; i < total; i += batch {
			for j := range changes {
				n := i + j
				changes[j] = Change{Kind: Created, Path: name(n), File: content}
			}
			if _, err := db.Commit(changes); err != nil {
				b.Fatal(err)
			}
		}
		elapsed += time.Since(start)
		b.StopTimer()
		if s := db.Stats(); s.Files != total {
			b.Fatalf("stats after commit: %+v", s)
		}
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(total*b.N)/elapsed.Seconds(), "versions/s")
}

// BenchmarkMerge merges 100,000 versions paged out of another device's
// index in pages of 1,000, as peers does when a device first syncs.
func BenchmarkMerge(b *testing.B) {
	const total, batch = 100_000, 1000
	src, err := Open(filepath.Join(b.TempDir(), "src.db"), Options{Device: "src"})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	content := FileContent([]byte("some small file content"), t0)
	for d := 0; d < total/batch; d++ {
		changes := []Change{{Kind: Created, Path: fmt.Sprintf("dir%03d", d), File: DirContent(t0)}}
		for f := range batch - 1 {
			changes = append(changes, Change{Kind: Created, Path: fmt.Sprintf("dir%03d/file-%06d.txt", d, f), File: content})
		}
		if _, err := src.Commit(changes); err != nil {
			b.Fatal(err)
		}
	}
	var elapsed time.Duration
	for range b.N {
		b.StopTimer()
		dst, err := Open(filepath.Join(b.TempDir(), "dst.db"), Options{Device: "dst"})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		for pos := uint64(0); ; {
			vs, next, err := src.Since(pos, batch)
			if err != nil {
				b.Fatal(err)
			}
			if len(vs) == 0 {
				break
			}
			if _, err := dst.Merge("src", vs, next); err != nil {
				b.Fatal(err)
			}
			pos = next
		}
		elapsed += time.Since(start)
		b.StopTimer()
		if s := dst.Stats(); s.Files+s.Dirs != total {
			b.Fatalf("merged %+v", s)
		}
		dst.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(total*b.N)/elapsed.Seconds(), "versions/s")
}

// BenchmarkImport imports a tree of 20,000 small files (200 directories of
// 100 files of 1–4 KiB) and copies the same tree with `cp -r` in the same
// run, reporting the ratio of their times, against cp alone and against cp
// followed by sync (Import's commits are durable; cp's are not until then). "mem" keeps chunks in memory
// (the cost of walking, hashing and committing); "store" writes them into
// a real chunks.Store (what `latus import` does).
func BenchmarkImport(b *testing.B) {
	src := b.TempDir()
	const dirs, perDir = 200, 100
	buf := make([]byte, 4096)
	for d := range dirs {
		dir := filepath.Join(src, fmt.Sprintf("d%03d", d))
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range perDir {
			n := d*perDir + f
			for i := range buf {
				buf[i] = byte(n*31 + i*7)
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.txt", f)), buf[:1024+n%3072], 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	// cpTime copies the tree with cp -r and then syncs, as Import's
	// commits are synced; it returns both times.
	cpTime := func(b *testing.B) (cp, cpSync time.Duration) {
		dst := filepath.Join(b.TempDir(), "copy")
		exec.Command("sync").Run()
		start := time.Now()
		if out, err := exec.Command("cp", "-r", src, dst).CombinedOutput(); err != nil {
			b.Fatalf("cp -r: %v: %s", err, out)
		}
		cp = time.Since(start)
		exec.Command("sync").Run()
		return cp, time.Since(start)
	}
	run := func(b *testing.B, chunksIn string, putter func(b *testing.B) Putter) {
		var imp, cp, cpSync time.Duration
		for range b.N {
			b.StopTimer()
			c, cs := cpTime(b)
			cp, cpSync = cp+c, cpSync+cs
			db, err := Open(filepath.Join(b.TempDir(), "meta.db"), Options{Device: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			p := putter(b)
			b.StartTimer()
			start := time.Now()
			if err := Import(context.Background(), src, db, p, nil); err != nil {
				b.Fatal(err)
			}
			imp += time.Since(start)
			b.StopTimer()
			if s := db.Stats(); s.Files != dirs*perDir {
				b.Fatalf("imported %+v", s)
			}
			db.Close()
			if c, ok := p.(interface{ Close() error }); ok {
				c.Close()
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(dirs*perDir*b.N)/imp.Seconds(), "files/s")
		b.ReportMetric(cp.Seconds()/float64(b.N), "cp-s/op")
		b.ReportMetric(cpSync.Seconds()/float64(b.N), "cp+sync-s/op")
		b.ReportMetric(imp.Seconds()/cp.Seconds(), "x-cp-time")
		b.ReportMetric(imp.Seconds()/cpSync.Seconds(), "x-cp+sync-time")
		benchtable.Record(b, benchtable.Row{
			Job:  fmt.Sprintf("meta.Import of %d files of 1-4 KiB, chunks in %s, vs cp -r + sync", dirs*perDir, chunksIn),
			Unit: benchtable.Seconds, Latus: imp.Seconds() / float64(b.N), Base: cpSync.Seconds() / float64(b.N), BaseName: "cp -r + sync",
		})
	}
	b.Run("mem", func(b *testing.B) {
		run(b, "memory", func(*testing.B) Putter { return &MemPutter{} })
	})
	b.Run("store", func(b *testing.B) {
		run(b, "a chunks.Store", func(b *testing.B) Putter {
			s, err := chunks.Open(chunks.Options{Dir: filepath.Join(b.TempDir(), "chunks"), Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			return s
		})
	})
}

// BenchmarkImportTiny imports 100,000 files of about 14 bytes (100
// directories of 1,000) into a real chunks.Store, as `latus import` does,
// and reports the state it leaves: meta.db plus the chunk store's
// directory, in allocated bytes per file, beside the content's bytes per
// file. Goal (issue 11): state ≤ content + 512 B per file.
func BenchmarkImportTiny(b *testing.B) {
	const dirs, perDir = 100, 1000
	src := b.TempDir()
	var content int64
	for d := range dirs {
		dir := filepath.Join(src, fmt.Sprintf("d%03d", d))
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range perDir {
			data := fmt.Appendf(nil, "file %03d/%04d\n", d, f)
			content += int64(len(data))
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d.txt", f)), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	const files = dirs * perDir
	var elapsed time.Duration
	var state, metaDB int64
	for range b.N {
		var took time.Duration
		took, state, metaDB = importState(b, src)
		elapsed += took
	}
	b.ReportMetric(elapsed.Seconds()/float64(b.N), "import-s/op")
	b.ReportMetric(float64(state)/files, "state-B/file")
	b.ReportMetric(float64(metaDB)/files, "meta.db-B/file")
	b.ReportMetric(float64(content)/files, "content-B/file")
	b.ReportMetric(float64(state-content)/files, "overhead-B/file")
}

// importState imports src into a fresh state dir (meta.db and a real
// chunk store, as `latus import` makes them) and returns the import's
// time and the bytes on disk of the state dir and of its meta.db.
func importState(b *testing.B, src string) (took time.Duration, state, metaDB int64) {
	b.Helper()
	b.StopTimer()
	dir := b.TempDir()
	db, err := Open(filepath.Join(dir, "meta.db"), Options{Device: "0123456789abcdef"})
	if err != nil {
		b.Fatal(err)
	}
	s, err := chunks.Open(chunks.Options{Dir: filepath.Join(dir, "chunks"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	start := time.Now()
	if err := Import(context.Background(), src, db, s, nil); err != nil {
		b.Fatal(err)
	}
	took = time.Since(start)
	b.StopTimer()
	db.Close()
	s.Close()
	state, metaDB = diskUsage(b, dir), diskUsage(b, filepath.Join(dir, "meta.db"))
	b.StartTimer()
	return took, state, metaDB
}

// diskUsage returns the bytes allocated on disk to every file at or
// under dir, as du counts them.
func diskUsage(b *testing.B, dir string) int64 {
	b.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkInlineCost imports 5,000 files of one size into a real store
// for sizes around InlineMax and reports the state dir's bytes per file:
// what choosing InlineMax trades. A file kept as a chunk costs a chunk
// file (a 4 KiB block at least) and its index entry; an inline one its
// bytes twice in meta.db (current and history), in bbolt pages of 4 KiB,
// where a value over a page gets pages of its own.
func BenchmarkInlineCost(b *testing.B) {
	for _, size := range []int{512, 1024, InlineMax, InlineMax + 1, 2048, 4096} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			const files = 5000
			src := b.TempDir()
			for f := range files {
				if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("f%04d", f)), chunks.RandomBytes(uint64(f), size), 0o644); err != nil {
					b.Fatal(err)
				}
			}
			var state int64
			for range b.N {
				_, state, _ = importState(b, src)
			}
			b.ReportMetric(float64(state)/files, "state-B/file")
			b.ReportMetric(float64(state)/files-float64(size), "overhead-B/file")
		})
	}
}
