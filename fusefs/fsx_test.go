package fusefs

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/internal/fsx"
)

var (
	fsxSeed = flag.Uint64("latus.fsx.seed", 1, "seed of TestFSX")
	fsxOps  = flag.Int("latus.fsx.ops", 1200, "operations of TestFSX")
)

// TestFSX runs the file exerciser (internal/fsx) against a real mount,
// remounting it every 25 closes. make test runs one fixed seed for 1,200
// operations: about 21 operations a second under -race on two shared cores
// (1,500 took 71 s), 125 to 210 without, most of it chunking the whole
// file at each commit; the 20,000 asked for would take some 16 minutes
// under -race there.
// go test ./fusefs -run 'FSX$' -latus.fsx.seed N -latus.fsx.ops M runs others.
func TestFSX(t *testing.T) {
	runFSX(t, *fsxSeed, *fsxOps)
}

// runFSX mounts a state dir and runs the exerciser on it in a child
// process (this test binary again, as TestFSXChild): the exerciser maps
// the file, and a page fault on a mapping served by the faulting process
// deadlocks it (the Go runtime cannot stop a thread waiting in a fault for
// the garbage collector, and the FUSE server cannot run until it does).
// The child asks for a remount with a line on stdout and waits for "ok";
// after each close it reports the content's size and hash, and this side
// checks the store holds exactly that version: committed when close(2)
// returned, not at the kernel's later release.
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
		case strings.HasPrefix(line, "closed "):
			io.WriteString(in, checkCommitted(m, line)+"\n")
		case strings.HasPrefix(line, "stats "):
			json.Unmarshal([]byte(strings.TrimPrefix(line, "stats ")), &st)
		default:
			stderr.WriteString(line + "\n") // the child test's own output
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

// checkCommitted answers a child's "closed SIZE HASH": "ok" when the
// store's current version of the file has that content.
func checkCommitted(m *Mounted, line string) string {
	var size int64
	var hash string
	fmt.Sscanf(line, "closed %d %s", &size, &hash)
	v, err := m.Meta.Lookup(fsx.Name)
	if err != nil {
		return "error: " + err.Error()
	}
	if v.Size != size || v.Hash.String() != hash {
		return fmt.Sprintf("error: the store holds %d bytes (hash %s) after close, want %d (hash %s)", v.Size, v.Hash, size, hash)
	}
	return "ok"
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
		Closed: func(content []byte, onlyTrunc bool) error {
			if onlyTrunc {
				return nil // committed at release, not at close: see stagedFile.needsCommitAtClose
			}
			fmt.Printf("closed %d %s\n", len(content), chunks.Sum(content))
			if !ok.Scan() {
				return fmt.Errorf("no answer to closed: %v", ok.Err())
			}
			if ok.Text() != "ok" {
				return errors.New(ok.Text())
			}
			return nil
		},
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
