package chunks

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
// without fsync), reporting the ratios.
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
		})
	}
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
