package fusefs

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
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
	// One version per close (the empty one create made is replaced by the
	// first close's unless a batch commit fell between them).
	var sizes []int64
	for _, v := range hist {
		sizes = append(sizes, v.Size)
	}
	if !slices.Equal(sizes, []int64{10, 13}) && !slices.Equal(sizes, []int64{0, 10, 13}) {
		t.Errorf("history of a/b/small after remount: sizes %v, want [10 13] (or [0 10 13])", sizes)
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
