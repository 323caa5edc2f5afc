package integration

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// manyFiles imports n small files into d through its daemon.
func manyFiles(t testing.TB, d *device, n int) {
	t.Helper()
	d.mustLatus("import", smallTree(t, n))
}

// smallTree writes n files of about 14 bytes ("file 123\n") in 40
// directories under tree/ in a new temp dir, and returns that dir.
func smallTree(t testing.TB, n int) string {
	t.Helper()
	src := t.TempDir()
	files := map[string]string{}
	for i := range n {
		files[fmt.Sprintf("tree/d%02d/file-%05d.txt", i%40, i)] = fmt.Sprintf("file %d\n", i)
	}
	writeTree(t, src, files)
	return src
}

// statusFiles is the file count in d's /status.
func statusFiles(t *testing.T, d *device) int {
	t.Helper()
	var st struct {
		Files int `json:"files"`
	}
	if err := json.Unmarshal([]byte(d.control(t, "/status")), &st); err != nil {
		t.Fatal(err)
	}
	return st.Files
}

// TestManyFilesThroughStockServer: the metadata of 2,000 files reaches a
// second device through a stock Prosody (10 kB/s per client, 256 KiB
// stanzas). In-band that is minutes of index pages; it must go through
// the data channel. The deadline is generous (correctness, not timing:
// BenchmarkMetadataSync times it).
func TestManyFilesThroughStockServer(t *testing.T) {
	acct := newAccount(t)
	a := acct.device(t)
	manyFiles(t, a, 2000)
	want := statusFiles(t, a)
	if want < 2000 {
		t.Fatalf("A has %d files after the import", want)
	}
	b := acct.device(t)
	eventually(t, 2*time.Minute, "B lists A's 2,000 files", func() bool { return statusFiles(t, b) == want })
	entries, err := filepath.Glob(b.path("tree/d07/*"))
	if err != nil || len(entries) != 50 {
		t.Fatalf("B lists %d files in tree/d07, want 50 (%v)", len(entries), err)
	}
	if got := readFile(t, b.path("tree/d07/file-00007.txt")); got != "file 7\n" {
		t.Fatalf("B reads %q", got)
	}
	if st := b.mustLatus("status"); !strings.Contains(st, "direct 127.0.0.1:") {
		t.Fatalf("B's status shows no direct connection:\n%s", st)
	}
}

// BenchmarkMetadataSync times how long a new device takes to list the
// 2,000 files another device holds, through a stock Prosody.
func BenchmarkMetadataSync(b *testing.B) {
	for range b.N {
		b.StopTimer()
		acct := newAccount(b)
		a := acct.device(b)
		manyFiles(b, a, 2000)
		b.StartTimer()
		d := acct.device(b)
		took := eventually(b, 5*time.Minute, "the new device lists 2,000 files", func() bool {
			entries, _ := filepath.Glob(d.path("tree/d39/*"))
			return len(entries) == 50
		})
		b.ReportMetric(took.Seconds(), "s-to-list/op")
	}
}
