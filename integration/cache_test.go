package integration

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// chunkBytes sums the chunk files a state dir holds.
func chunkBytes(t testing.TB, d *device) int64 {
	t.Helper()
	var total int64
	root := filepath.Join(d.state, "chunks")
	filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && filepath.Dir(p) != root {
			if info, err := e.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}

var localOnlyRE = regexp.MustCompile(`(\d+) only on this device`)

func localOnly(t *testing.T, d *device) int {
	t.Helper()
	m := localOnlyRE.FindStringSubmatch(d.mustLatus("status"))
	if m == nil {
		t.Fatal("status has no local-only count")
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestPrefetchPinAndCacheCap(t *testing.T) {
	const capBytes = 24 << 20
	acct := newAccount(t)
	a := acct.device(t)
	b := acct.device(t, "--cache-size", "24MiB")
	os.MkdirAll(a.path("big"), 0o755)
	files := make([][]byte, 5)
	for i := range files {
		files[i] = make([]byte, 8<<20)
		rand.Read(files[i])
		if err := os.WriteFile(a.path(fmt.Sprintf("big/f%d", i)), files[i], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "files listed on B", func() bool {
		ents, _ := os.ReadDir(b.path("big"))
		return len(ents) == len(files)
	})

	b.mustLatus("prefetch", b.path("big/f0"))
	if s := xattr(b.path("big/f0"), "user.latus.state"); s != "local" {
		t.Fatalf("after prefetch: state %q, want local", s)
	}
	b.mustLatus("pin", "big/f1")
	if s := xattr(b.path("big/f1"), "user.latus.pinned"); s != "1" {
		t.Fatalf("after pin: pinned %q, want 1", s)
	}

	// B's own file: only B holds it, so it must survive any eviction.
	own := make([]byte, 6<<20)
	rand.Read(own)
	if err := os.WriteFile(b.path("mine.bin"), own, 0o644); err != nil {
		t.Fatal(err)
	}
	// Read far more than the cap, twice.
	for round := 0; round < 2; round++ {
		for i, want := range files {
			got, err := os.ReadFile(b.path(fmt.Sprintf("big/f%d", i)))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("round %d: reading f%d on B: %v", round, i, err)
			}
			if used := chunkBytes(t, b); used > capBytes+4<<20 {
				t.Fatalf("B holds %d bytes of chunks; cap is %d", used, capBytes)
			}
		}
	}
	if s := xattr(b.path("big/f1"), "user.latus.state"); s != "local" {
		t.Fatalf("pinned file was evicted: state %q", s)
	}
	// B's own file may have been handed to A under pressure (A keeps it
	// since it became a replica there); it is never gone.
	if got, err := os.ReadFile(b.path("mine.bin")); err != nil || !bytes.Equal(got, own) {
		t.Fatalf("B's own file after eviction pressure: %v", err)
	}
	eventually(t, 10*time.Second, "mine.bin listed on A", func() bool {
		_, err := os.Stat(a.path("mine.bin"))
		return err == nil
	})
	if got := readFile(t, a.path("mine.bin")); got != string(own) {
		t.Fatal("A read B's file wrong")
	}
	eventually(t, 10*time.Second, "A keeps B's chunks", func() bool { return localOnly(t, b) == 0 })
	// B may since have handed its copy to A under pressure: A keeps it.
	if c := xattr(a.path("mine.bin"), "user.latus.copies"); c != "1" && c != "2" {
		t.Errorf("copies of B's file seen from A: %q, want 1 or 2", c)
	}

	b.mustLatus("unpin", "big/f1")
	if s := xattr(b.path("big/f1"), "user.latus.pinned"); s != "0" {
		t.Fatalf("after unpin: pinned %q, want 0", s)
	}
}
