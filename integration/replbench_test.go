package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/uberan/latus/internal/benchtable"
)

// BenchmarkReplication measures how long a big file written on one device
// takes to be kept by a second device that nobody reads it on (replicas =
// 2), beside `latus prefetch` of a file of the same size on a pair that
// does not replicate, in one run. LATUS_BENCH_SYNC_MB sets the size
// (default 1024).
func BenchmarkReplication(b *testing.B) {
	sizeMB := envInt("LATUS_BENCH_SYNC_MB", 1024)
	for i := 0; i < b.N; i++ {
		runReplicationBench(b, sizeMB)
	}
}

func runReplicationBench(b *testing.B, sizeMB int) {
	src := filepath.Join(b.TempDir(), "big.bin")
	sh(b, "/", fmt.Sprintf("head -c %dM /dev/urandom > %s", sizeMB, src))
	size := int64(sizeMB) << 20

	repl := newAccount(b)
	ra, rb := repl.device(b), repl.device(b)
	meetDevices(b, ra, rb)
	start := time.Now()
	sh(b, ra.mnt, "cp "+src+" big.bin && sync big.bin")
	closed := time.Since(start)
	eventually(b, 600*time.Second, "big.bin kept by two devices", func() bool {
		return xattr(ra.path("big.bin"), "user.latus.copies") == "2"
	})
	replicated := time.Since(start)
	sh(b, rb.mnt, "cmp big.bin "+src) // what B keeps is what A wrote
	ra.stop()
	rb.stop()

	pre := newAccount(b)
	pre.config = "replicas = 1\n"
	pa, pb := pre.device(b), pre.device(b)
	meetDevices(b, pa, pb)
	start = time.Now()
	sh(b, pa.mnt, "cp "+src+" big.bin && sync big.bin")
	eventually(b, 60*time.Second, "big.bin listed on B", func() bool {
		st, err := os.Stat(pb.path("big.bin"))
		return err == nil && st.Size() == size
	})
	pb.mustLatus("prefetch", pb.path("big.bin"))
	prefetched := time.Since(start)

	benchtable.Record(b, timeRow("", fmt.Sprintf("%d MiB written on A until kept by unread B (cp + sync on A: %s), vs write + prefetch",
		sizeMB, closed.Round(time.Millisecond)), "report", replicated, prefetched, "write+prefetch"))
}

// meetDevices waits until a file made on a is listed on b.
func meetDevices(tb testing.TB, a, b *device) {
	tb.Helper()
	name := fmt.Sprintf("meet-%d", time.Now().UnixNano())
	if err := os.Mkdir(a.path(name), 0o755); err != nil {
		tb.Fatal(err)
	}
	eventually(tb, 20*time.Second, "devices see each other", func() bool {
		_, err := os.Stat(b.path(name))
		return err == nil
	})
}
