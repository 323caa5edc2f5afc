package integration

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKillDuringTarLosesNothingClosed kills the daemon with SIGKILL while
// tar extracts thousands of small files into the mount, mounts again and
// checks every file tar had finished: closes do not wait for an fsync
// (group commit), so this is what the journal replay must give back.
//
// tar -v names each member as it starts it, and after the kill every
// member it goes on to fails. So the members named before tar's first
// error, but for the last of them (it may be the one the kill cut), were
// written and closed.
func TestKillDuringTarLosesNothingClosed(t *testing.T) {
	requireTool(t, "tar")
	requireTool(t, "stdbuf")
	const n = 4000
	tarball := filepath.Join(t.TempDir(), "tree.tar")
	makeTree(t, tarball, n)

	d := newDevice(t)
	d.mount()
	listing := filepath.Join(t.TempDir(), "listing")
	out, err := os.Create(listing)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	tar := exec.Command("stdbuf", "-oL", "-eL", "tar", "xvf", tarball)
	tar.Dir = d.mnt
	tar.Stdout, tar.Stderr = out, out
	if err := tar.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(listing)
		if strings.Count(string(b), "\n") >= n/3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := syscall.Kill(d.daemonPID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	tar.Wait() // it fails: the mount is gone
	d.mount()  // cleans the stale mount and replays the journal

	finished := finishedMembers(t, listing)
	if len(finished) < n/10 {
		t.Fatalf("only %d files finished before the kill", len(finished))
	}
	checked := 0
	for _, name := range finished {
		if strings.HasSuffix(name, "/") {
			continue // a directory
		}
		i, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(name), "f"), ".txt"))
		if err != nil {
			t.Fatalf("unexpected member %q", name)
		}
		want := strings.Repeat(strconv.Itoa(i), 1+i%300)
		got, err := os.ReadFile(d.path(name))
		if err != nil || string(got) != want {
			t.Errorf("%s after kill -9 and remount: %d bytes, %v; want the %d tar wrote", name, len(got), err, len(want))
		}
		checked++
	}
	t.Logf("checked the %d files tar finished before the kill", checked)
}

// finishedMembers returns the members tar -v named before its first
// error, less the last one.
func finishedMembers(t *testing.T, listing string) []string {
	t.Helper()
	f, err := os.Open(listing)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "tar:") || strings.HasPrefix(line, "stdbuf:") {
			break
		}
		names = append(names, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(fmt.Errorf("read tar's listing: %w", err))
	}
	if len(names) == 0 {
		return nil
	}
	return names[:len(names)-1]
}
