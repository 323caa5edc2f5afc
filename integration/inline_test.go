package integration

import (
	"bytes"
	"crypto/rand"
	"os"
	"testing"
	"time"

	"github.com/uberan/latus/meta"
)

// TestSmallFileReadsWithWriterOffline: a file of at most meta.InlineMax
// (1.5 KiB) comes with its metadata, so the other device reads it
// with no device left to fetch from, where a larger file's read is EIO
// (TestUnavailableDataIsEIOThenHeals).
func TestSmallFileReadsWithWriterOffline(t *testing.T) {
	acct := newAccount(t)
	acct.config = "replicas = 1\n" // the writer alone would keep a chunk
	a, b := acct.device(t), acct.device(t)
	small := make([]byte, meta.InlineMax)
	rand.Read(small)
	if err := os.WriteFile(a.path("small.bin"), small, 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "small file listed on B", func() bool {
		st, err := os.Stat(b.path("small.bin"))
		return err == nil && st.Size() == int64(len(small))
	})
	if s := xattr(b.path("small.bin"), "user.latus.state"); s != "local" {
		t.Errorf("state on B before any read: %q, want local (the bytes came with the version)", s)
	}
	a.unmount() // no device to fetch from
	got, err := os.ReadFile(b.path("small.bin"))
	if err != nil || !bytes.Equal(got, small) {
		t.Fatalf("read on B with A gone: %d bytes, err %v; want A's %d bytes", len(got), err, len(small))
	}
}
