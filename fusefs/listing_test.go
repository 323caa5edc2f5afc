package fusefs

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uberan/latus/meta"
)

// opCounter is a slog.Handler counting the FUSE requests go-fuse's debug
// log reports ("rx 12: GETXATTR n5 ..."), by opcode and, for GETXATTR,
// by opcode and attribute name.
type opCounter struct {
	mu  sync.Mutex
	ops map[string]int
}

func (c *opCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *opCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *opCounter) WithGroup(string) slog.Handler            { return c }

func (c *opCounter) Handle(_ context.Context, r slog.Record) error {
	f := strings.Fields(r.Message)
	if len(f) < 3 || f[0] != "rx" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ops[f[2]]++
	if f[2] == "GETXATTR" {
		for _, w := range f[3:] {
			if strings.HasPrefix(w, `"`) {
				c.ops["GETXATTR "+strings.Trim(w, `"`)]++
				break
			}
		}
	}
	return nil
}

// take returns the counts since the last call and starts again.
func (c *opCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	ops := c.ops
	c.ops = map[string]int{}
	return ops
}

// countingMount mounts with go-fuse's request log feeding an opCounter.
func countingMount(t *testing.T) (*Mounted, *opCounter) {
	t.Helper()
	c := &opCounter{ops: map[string]int{}}
	m := testMountOpts(t, func(o *Options) { o.Logger = slog.New(c) }, MountOptions{Debug: true})
	return m, c
}

// TestLsLongRequests lists a directory the kernel has never seen with
// ls -l, twice, and counts the requests: READDIRPLUS brings every
// entry's attributes (no LOOKUP or GETATTR per file), ls learns from the
// first security.selinux answer that the mount keeps none (no GETXATTR
// per file), and the second listing finds entries and attributes cached.
func TestLsLongRequests(t *testing.T) {
	m, c := countingMount(t)
	const n = 60
	meta.TestMkdir(t, m.Meta, "d", time.Now())
	for i := range n {
		meta.TestWrite(t, m.Meta, fmt.Sprintf("d/f%02d", i), bytes.Repeat([]byte("x"), i), time.Now())
	}
	c.take()
	for round := 1; round <= 2; round++ {
		out, err := exec.Command("ls", "-l", filepath.Join(m.Dir, "d")).CombinedOutput()
		if err != nil {
			t.Fatalf("ls -l: %v\n%s", err, out)
		}
		for i := range n {
			want := fmt.Sprintf(" %d ", i)
			if !strings.Contains(string(out), want) {
				t.Fatalf("ls -l shows no file of size %d:\n%s", i, out)
			}
		}
		ops := c.take()
		t.Logf("ls -l of %d files, round %d: %v", n, round, ops)
		for _, op := range []string{"LOOKUP", "GETATTR", "GETXATTR", "LISTXATTR"} {
			if ops[op] > 4 {
				t.Errorf("round %d: %d %s requests for %d files, want at most 4", round, ops[op], op, n)
			}
		}
	}
}

// TestListingAfterMerge opens a directory, lets a remote change land
// (commit behind the kernel's back, then Invalidate, as a merge does) and
// only then reads it: the attributes READDIRPLUS hands the kernel, cached
// for minutes, must be the new ones, not those of the listing read at
// open.
func TestListingAfterMerge(t *testing.T) {
	m := TestMount(t)
	meta.TestMkdir(t, m.Meta, "d", time.Now())
	meta.TestWrite(t, m.Meta, "d/f", []byte("old"), time.Now())
	d, err := os.Open(filepath.Join(m.Dir, "d")) // OPENDIR reads the listing
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	v := meta.TestWrite(t, m.Meta, "d/f", []byte("new, and longer"), time.Now())
	m.FS.Invalidate([]meta.FileVersion{v})
	if _, err := d.ReadDir(-1); err != nil { // READDIRPLUS
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(m.Dir, "d", "f"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != v.Size {
		t.Fatalf("size after a merge during a listing = %d, want %d", fi.Size(), v.Size)
	}
}

// TestListingStagedSize lists a directory holding a file being written:
// ls -l shows the size written so far, as stat does.
func TestListingStagedSize(t *testing.T) {
	m := TestMount(t)
	f, err := os.Create(filepath.Join(m.Dir, "w"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, 1234)); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "w" && fi.Size() != 1234 {
			t.Fatalf("listed size of a file being written = %d, want 1234", fi.Size())
		}
	}
}

// TestTarRequests extracts a tar of small files into the mount and counts
// the requests: the kernel asks security.capability before a write(2) or
// a setattr that may have to drop privileges (FUSE clears SB_NOSEC; only
// CAP_HANDLE_KILLPRIV_V2 would spare the question, and go-fuse's fs API
// does not pass the write flags it needs); it is answered from memory, and
// nothing else asks for xattrs.
func TestTarRequests(t *testing.T) {
	src := t.TempDir()
	const n = 40
	for i := range n {
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("f%02d", i)), []byte(strings.Repeat("y", i+1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tarball := filepath.Join(t.TempDir(), "t.tar")
	if out, err := exec.Command("tar", "cf", tarball, "-C", src, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar c: %v\n%s", err, out)
	}
	m, c := countingMount(t)
	c.take()
	if out, err := exec.Command("tar", "xf", tarball, "-C", m.Dir).CombinedOutput(); err != nil {
		t.Fatalf("tar x: %v\n%s", err, out)
	}
	ops := c.take()
	t.Logf("tar x of %d files: %v", n, ops)
	if got := ops["GETXATTR"] - ops["GETXATTR security.capability"]; got > 0 {
		t.Errorf("tar x asked %d xattrs besides security.capability, want none", got)
	}
	if got, most := ops["GETXATTR security.capability"], ops["WRITE"]+ops["SETATTR"]; got > most {
		t.Errorf("tar x asked security.capability %d times, want at most one per WRITE or SETATTR (%d)", got, most)
	}
	if ops["LISTXATTR"] > 0 {
		t.Errorf("tar x listed xattrs %d times, want none", ops["LISTXATTR"])
	}
}
