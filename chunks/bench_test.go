package chunks

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/uberan/latus/internal/benchtable"
)

// Run with: go test -run XXX -bench . -benchtime 3x ./chunks/

const benchSize = 64 << 20

// benchText returns n bytes of word salad: compresses about like prose.
func benchText(n int) []byte {
	words := strings.Fields(`the of and to in is that it for on with as was be by this are
		or from at which an but not have has had were can all their more one will
		would about there other when some time into only also these could than
		filesystem device chunk version folder sync latus conflict history peer`)
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(12) == 0 {
			b.WriteString(".\n")
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}

// BenchmarkPutStream measures Split+hash+Put of 64 MiB into a fresh store
// and, in the same run, io.Copy of the same bytes to a file (with and
// without fsync), reporting the ratios; the one beside the copy with
// fsync (PutStream's chunks are durable when it returns) goes to make
// bench's goal table.
func BenchmarkPutStream(b *testing.B) {
	for _, kind := range []struct {
		name string
		data []byte
	}{
		{"random", RandomBytes(1, benchSize)},
		{"text", benchText(benchSize)},
	} {
		b.Run(kind.name, func(b *testing.B) {
			var put, putSync, cp, cpSync time.Duration
			var stored int64
			for i := range b.N {
				dir := b.TempDir()

				start := time.Now()
				f, err := os.Create(filepath.Join(dir, "copy"))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(f, bytes.NewReader(kind.data)); err != nil {
					b.Fatal(err)
				}
				cp += time.Since(start)
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				cpSync += time.Since(start)
				f.Close()
				os.Remove(f.Name())

				s, err := Open(Options{Dir: filepath.Join(dir, "chunks")})
				if err != nil {
					b.Fatal(err)
				}
				start = time.Now()
				_, _, size, err := s.PutStream(bytes.NewReader(kind.data))
				put += time.Since(start)
				if err != nil || size != int64(len(kind.data)) {
					b.Fatalf("PutStream: %d bytes, %v", size, err)
				}
				// PutStream leaves durability to Sync (durable.go): the
				// fair match for copy+fsync is both.
				if err := s.Sync(); err != nil {
					b.Fatal(err)
				}
				putSync += time.Since(start)
				stored = s.Usage().Used
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				_ = i
			}
			mb := float64(len(kind.data)) * float64(b.N) / (1 << 20)
			b.ReportMetric(mb/put.Seconds(), "put_MiB/s")
			b.ReportMetric(mb/cp.Seconds(), "copy_MiB/s")
			b.ReportMetric(cp.Seconds()/put.Seconds(), "ratio_vs_copy")
			b.ReportMetric(cpSync.Seconds()/putSync.Seconds(), "ratio_vs_copy_fsync")
			b.ReportMetric(float64(stored)/float64(len(kind.data)), "stored/plain")
			benchtable.Record(b, benchtable.Row{ID: "put",
				Job:  fmt.Sprintf("PutStream of %d MiB of %s data vs a copy with fsync (speed)", len(kind.data)>>20, kind.name),
				Unit: benchtable.MiBPerSec, Latus: mb / put.Seconds(), Base: mb / cpSync.Seconds(), BaseName: "copy+fsync"})
		})
	}
}

// BenchmarkPutSmall measures Put of 1,000 different 4 KiB chunks into a
// fresh store beside writing the same bytes to 1,000 plain files with an
// fsync each, in the same run: the cost per small file, where fsync and
// a file per chunk dominate.
func BenchmarkPutSmall(b *testing.B) {
	const n, size = 1000, 4096
	data := make([][]byte, n)
	for i := range data {
		data[i] = RandomBytes(uint64(1000+i), size)
	}
	var put, plain time.Duration
	for range b.N {
		dir := b.TempDir()
		start := time.Now()
		for i, d := range data {
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("f%04d", i)))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Write(d); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		plain += time.Since(start)

		s, err := Open(Options{Dir: filepath.Join(dir, "chunks")})
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		for _, d := range data {
			if _, err := s.Put(d); err != nil {
				b.Fatal(err)
			}
		}
		put += time.Since(start)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	files := float64(n * b.N)
	b.ReportMetric(files/put.Seconds(), "put_chunks/s")
	b.ReportMetric(files/plain.Seconds(), "fsynced_files/s")
	benchtable.Record(b, benchtable.Row{ID: "put",
		Job:  fmt.Sprintf("Put of %d x 4 KiB chunks vs %d files written with fsync (speed)", n, n),
		Unit: benchtable.FilesPerSec, Latus: files / put.Seconds(), Base: files / plain.Seconds(), BaseName: "write+fsync"})
}

// BenchmarkSplitHash is the CPU part of PutStream alone.
func BenchmarkSplitHash(b *testing.B) {
	data := RandomBytes(1, benchSize)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := Split(bytes.NewReader(data), func(Ref, []byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRead measures Read hits of 1 MiB chunks from the memory cache
// and from disk (cache off: read, decode, verify).
func BenchmarkRead(b *testing.B) {
	for _, tc := range []struct {
		name string
		mem  int64
		data func(i int) []byte
	}{
		{"memory", 0, func(i int) []byte { return RandomBytes(uint64(i), AvgChunk) }},
		{"disk-random", -1, func(i int) []byte { return RandomBytes(uint64(i), AvgChunk) }},
		{"disk-text", -1, func(i int) []byte { return benchText(AvgChunk + i) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := TestStore(b, func(o *Options) { o.MemCache = tc.mem })
			var ids []ID
			for i := range 16 {
				ids = append(ids, mustPut(b, s, tc.data(i)))
			}
			for _, id := range ids { // warm the cache (or page cache)
				if _, err := s.Read(id); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(AvgChunk)
			i := 0
			for b.Loop() {
				if _, err := s.Read(ids[i%len(ids)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkFetch measures fetching into a fresh store from an in-memory
// source, so what it times is the store's side of a fetch (verify, chunk
// file, index): 1 MiB chunks one Get at a time (a reader without
// read-ahead), the same through FetchAll, and 4 KiB chunks through
// FetchAll (prefetch of small files).
func BenchmarkFetch(b *testing.B) {
	for _, tc := range []struct {
		name  string
		n     int
		size  int
		batch bool
	}{
		{"get-1MiB", 64, AvgChunk, false},
		{"fetchall-1MiB", 64, AvgChunk, true},
		{"fetchall-4KiB", 1000, 4 << 10, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			src := NewMemSource("mem")
			ids := make([]ID, tc.n)
			for i := range ids {
				ids[i] = src.Add(RandomBytes(uint64(i), tc.size))
			}
			var took time.Duration
			for range b.N {
				s := TestStore(b)
				f := TestFetcher(b, s, src)
				start := time.Now()
				if tc.batch {
					if err := f.FetchAll(b.Context(), ids, nil); err != nil {
						b.Fatal(err)
					}
				} else {
					for _, id := range ids {
						if _, err := f.Get(b.Context(), id); err != nil {
							b.Fatal(err)
						}
					}
				}
				took += time.Since(start)
			}
			mb := float64(tc.n*tc.size) * float64(b.N) / (1 << 20)
			b.ReportMetric(mb/took.Seconds(), "MiB/s")
			b.ReportMetric(float64(tc.n*b.N)/took.Seconds(), "chunks/s")
		})
	}
}
