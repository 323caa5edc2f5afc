package fusefs

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
)

// TestContentSurvivesRemount writes files, unmounts, reopens the dbs and
// mounts again: contents, the symlink and the history are unchanged.
func TestContentSurvivesRemount(t *testing.T) {
	state, mnt := t.TempDir(), t.TempDir()
	files := map[string][]byte{
		"a/big.bin": make([]byte, 5<<20+123),
		"a/b/small": []byte("small file"),
		"empty":     nil,
	}
	rand.New(rand.NewSource(1)).Read(files["a/big.bin"])

	m := MountState(t, state, mnt)
	if err := os.MkdirAll(filepath.Join(mnt, "a/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	for p, data := range files {
		mustWrite(t, filepath.Join(mnt, p), data)
	}
	mustWrite(t, filepath.Join(mnt, "a/b/small"), []byte("small file v2"))
	files["a/b/small"] = []byte("small file v2")
	if err := os.Symlink("a/big.bin", filepath.Join(mnt, "link")); err != nil {
		t.Fatal(err)
	}
	m.Unmount()

	m = MountState(t, state, mnt)
	hist, err := m.Meta.History("a/b/small")
	if err != nil {
		t.Fatal(err)
	}
	// The empty version create commits, then one per close.
	if len(hist) != 3 || hist[1].Size != 10 || hist[2].Size != 13 {
		t.Errorf("history of a/b/small after remount: %d versions, want sizes [0 10 13]", len(hist))
	}
	for p, data := range files {
		if got := mustRead(t, filepath.Join(mnt, p)); !bytes.Equal(got, data) {
			t.Errorf("%s after remount: %d bytes differ from the %d written", p, len(got), len(data))
		}
	}
	if target, err := os.Readlink(filepath.Join(mnt, "link")); err != nil || target != "a/big.bin" {
		t.Errorf("readlink after remount = %q, %v", target, err)
	}
}
