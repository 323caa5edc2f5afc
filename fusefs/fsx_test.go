package fusefs

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/uberan/latus/internal/fsx"
)

var (
	fsxSeed = flag.Uint64("latus.fsx.seed", 1, "seed of TestFSX")
	fsxOps  = flag.Int("latus.fsx.ops", 1500, "operations of TestFSX")
)

// TestFSX runs the file exerciser (internal/fsx) against a real mount,
// remounting it every 25 closes. make test runs one fixed seed for 1,500
// operations: about 25 operations a second under -race on two shared cores
// (125 without), most of it chunking the whole file at each commit, so the
// 20,000 asked for would take some 13 minutes there.
// go test ./fusefs -run 'FSX$' -latus.fsx.seed N -latus.fsx.ops M runs others.
func TestFSX(t *testing.T) {
	runFSX(t, *fsxSeed, *fsxOps)
}

// runFSX mounts a state dir and runs the exerciser on it in a child
// process (this test binary again, as TestFSXChild): the exerciser maps
// the file, and a page fault on a mapping served by the faulting process
// deadlocks it (the Go runtime cannot stop a thread waiting in a fault for
// the garbage collector, and the FUSE server cannot run until it does).
// The child asks for a remount with a line on stdout and waits for "ok".
func runFSX(t *testing.T, seed uint64, ops int) {
	state, mnt := t.TempDir(), t.TempDir()
	m := MountState(t, state, mnt)
	cmd := exec.Command(os.Args[0], "-test.run=^TestFSXChild$", "-test.timeout=0")
	cmd.Env = append(os.Environ(), "LATUS_FSX_DIR="+mnt, "LATUS_FSX_SEED="+strconv.FormatUint(seed, 10), "LATUS_FSX_OPS="+strconv.Itoa(ops))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var st fsx.Stats
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "remount":
			m.Unmount()
			m = MountState(t, state, mnt)
			io.WriteString(in, "ok\n")
		case strings.HasPrefix(line, "stats "):
			json.Unmarshal([]byte(strings.TrimPrefix(line, "stats ")), &st)
		}
	}
	err = cmd.Wait()
	took := time.Since(start)
	t.Logf("seed %d: %d operations in %s (%.0f ops/s), %d closes, %d remounts; by kind %v; refused %v",
		seed, st.Ops, took.Round(time.Millisecond), float64(st.Ops)/took.Seconds(), st.Closes, st.Remounts, st.ByKind, st.Unsupported)
	if err != nil {
		t.Fatalf("exerciser: %v\n%s", err, stderr.String())
	}
	if st.Ops != ops {
		t.Fatalf("exerciser ran %d of %d operations\n%s", st.Ops, ops, stderr.String())
	}
}

// TestFSXChild is the exerciser's side of TestFSX; it runs only when
// TestFSX starts it.
func TestFSXChild(t *testing.T) {
	dir := os.Getenv("LATUS_FSX_DIR")
	if dir == "" {
		t.Skip("run by TestFSX in a child process")
	}
	seed, _ := strconv.ParseUint(os.Getenv("LATUS_FSX_SEED"), 10, 64)
	ops, _ := strconv.Atoi(os.Getenv("LATUS_FSX_OPS"))
	ok := bufio.NewScanner(os.Stdin)
	st, err := fsx.Run(fsx.Options{
		Dir: dir, Seed: seed, Ops: ops,
		Remount: func() error {
			fmt.Println("remount")
			if !ok.Scan() {
				return fmt.Errorf("no answer to remount: %v", ok.Err())
			}
			return nil
		},
		RemountEvery: 25,
	})
	b, _ := json.Marshal(st)
	fmt.Printf("stats %s\n", b)
	if err != nil {
		t.Fatal(err)
	}
}
