package fusefs

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/uberan/latus/meta"
)

// nodes counts the nodes of the go-fuse tree under n.
func nodes(n *fs.Inode) int {
	c := 0
	for _, ch := range n.Children() {
		c += 1 + nodes(ch)
	}
	return c
}

// TestTrimDropsColdFolders lists a tree, then trims the kernel's cache: the
// nodes of the folders used longest ago are freed (the kernel forgets
// them), the folder used last keeps its, and the tree still lists whole.
func TestTrimDropsColdFolders(t *testing.T) {
	m := TestMount(t)
	const dirs, files = 10, 30
	for d := range dirs {
		meta.TestMkdir(t, m.Meta, fmt.Sprintf("d%d", d), time.Now())
		for i := range files {
			meta.TestWrite(t, m.Meta, fmt.Sprintf("d%d/f%02d", d, i), []byte("x"), time.Now())
		}
	}
	lsR := func() string {
		t.Helper()
		out, err := exec.Command("ls", "-lR", m.Dir).CombinedOutput()
		if err != nil {
			t.Fatalf("ls -lR: %v\n%s", err, out)
		}
		return string(out)
	}
	before := lsR()
	if _, err := exec.Command("stat", filepath.Join(m.Dir, "d3", "f00")).CombinedOutput(); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.Command("ls", filepath.Join(m.Dir, "d3")).CombinedOutput(); err != nil { // d3 is the warmest
		t.Fatal(err)
	}
	root := m.FS.root.EmbeddedInode()
	all := nodes(root)
	if all != dirs*(files+1) {
		t.Fatalf("go-fuse tree holds %d nodes after ls -lR, want %d", all, dirs*(files+1))
	}
	if dropped := m.FS.trim(); dropped < all/2 {
		t.Fatalf("trim dropped %d entries of %d, want at least half", dropped, all)
	}
	deadline := time.Now().Add(10 * time.Second)
	for nodes(root) > all/2+files && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // the kernel's FORGETs arrive on their own
	}
	if n := nodes(root); n > all/2+files {
		t.Fatalf("after trim the tree holds %d nodes of %d", n, all)
	}
	if d3 := root.GetChild("d3"); d3 == nil || len(d3.Children()) != files {
		t.Fatalf("the folder used last lost its nodes")
	}
	if after := lsR(); after != before {
		t.Fatalf("ls -lR after trim differs:\n%s\nbefore:\n%s", after, before)
	}
	if !strings.Contains(before, "f29") {
		t.Fatalf("ls -lR misses files:\n%s", before)
	}
}
