package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uberan/latus/internal/benchtable"
)

// BenchmarkSync measures Latus between two devices on loopback beside
// rclone (mount --vfs-cache-mode full of an rclone serve webdav) and two
// Syncthing instances doing the same jobs in one run, and records the
// ratios for make bench's goal table. LATUS_BENCH_SYNC_MB sets the big
// file's size (default 1024), LATUS_BENCH_SYNC_FILES the small-file
// folder (default 5000 × 4 KiB).
func BenchmarkSync(b *testing.B) {
	sizeMB := envInt("LATUS_BENCH_SYNC_MB", 1024)
	nFiles := envInt("LATUS_BENCH_SYNC_FILES", 5000)
	for i := 0; i < b.N; i++ {
		runSyncBench(b, sizeMB, nFiles)
	}
}

func runSyncBench(b *testing.B, sizeMB, nFiles int) {
	srcDir := b.TempDir() // also the directory rclone serves
	src := filepath.Join(srcDir, "big.bin")
	sh(b, "/", fmt.Sprintf("head -c %dM /dev/urandom > %s", sizeMB, src))
	// A second file of other bytes, so no chunk of it is on B already.
	src2 := filepath.Join(b.TempDir(), "big2.bin")
	sh(b, "/", fmt.Sprintf("head -c %dM /dev/urandom > %s", sizeMB, src2))
	size := int64(sizeMB) << 20

	// --- Latus ---
	acct := newAccount(b)
	acct.config = "replicas = 1\n" // B's reads stay cold: no replica reaches it first
	da, db := acct.device(b), acct.device(b)
	if err := os.MkdirAll(da.path("warmup"), 0o755); err != nil {
		b.Fatal(err)
	}
	eventually(b, 20*time.Second, "devices see each other", func() bool {
		_, err := os.Stat(db.path("warmup"))
		return err == nil
	})

	// 1. Cold sequential read on B of a big file written on A.
	sh(b, da.mnt, "cp "+src+" big.bin && sync big.bin")
	eventually(b, 60*time.Second, "big.bin listed on B", func() bool {
		st, err := os.Stat(db.path("big.bin"))
		return err == nil && st.Size() == size
	})
	dropCaches()
	coldB := timeIt(func() { sh(b, db.mnt, "cat big.bin > /dev/null") })
	sh(b, db.mnt, "cmp big.bin "+src) // what B read is what A wrote
	sh(b, da.mnt, "cat big.bin > /dev/null")
	warmA := timeIt(func() { sh(b, da.mnt, "cat big.bin > /dev/null") })
	job := fmt.Sprintf("cold read of %d MiB on B, written on A", sizeMB)
	benchtable.Record(b, rateRow("", job+", vs warm read on A", "report", benchtable.MiBPerSec, float64(sizeMB), coldB, warmA, "A warm"))
	if rc, why := benchRclone(b, srcDir); rc == "" {
		benchtable.Record(b, rateRow("peer-read", job+", vs rclone mount", "", benchtable.MiBPerSec, float64(sizeMB), coldB, 0, "rclone: "+why))
	} else {
		dropCaches()
		rcT := timeIt(func() { sh(b, rc, "cat big.bin > /dev/null") })
		benchtable.Record(b, rateRow("peer-read", job+", vs rclone mount", "", benchtable.MiBPerSec, float64(sizeMB), coldB, rcT, "rclone mount"))
	}

	// 2 and 5b. A second big file: first byte on B, then fully on B.
	sh(b, da.mnt, "cp "+src2+" big2.bin")
	closed := time.Now()
	sh(b, da.mnt, "sync big2.bin")
	eventually(b, 60*time.Second, "big2.bin listed on B", func() bool {
		st, err := os.Stat(db.path("big2.bin"))
		return err == nil && st.Size() == size
	})
	dropCaches()
	firstByte := timeIt(func() {
		f, err := os.Open(db.path("big2.bin"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, 4096)
		if _, err := io.ReadFull(f, buf); err != nil {
			b.Fatal(err)
		}
	})
	benchtable.Record(b, timeRow("", "first byte (4 KiB) of a cold big file on B", "<= 0.02s", firstByte, 0, ""))
	db.mustLatus("prefetch", db.path("big2.bin"))
	latusBigFull := time.Since(closed)

	// 3. Close on A to visible on B, small files.
	latusProp := medianPropagation(b, da.path("prop"), db.path("prop"), 20)

	// 4 and 5c. A folder of small files written on A, prefetched on B.
	smallDir := da.path("small")
	if err := os.MkdirAll(smallDir, 0o755); err != nil {
		b.Fatal(err)
	}
	writeSmall(b, smallDir, nFiles)
	closed = time.Now()
	eventually(b, 120*time.Second, "small files listed on B", func() bool {
		return countFiles(db.path("small"), 4096) == nFiles
	})
	prefetchLabel := fmt.Sprintf("latus prefetch of %d-file folder on B", nFiles)
	_, noPrefetch := db.latus("prefetch", "--help")
	prefetch := timeIt(func() {
		if noPrefetch != nil {
			prefetchLabel = fmt.Sprintf("cat of %d files on B (no prefetch)", nFiles)
			sh(b, db.mnt, "cat small/* > /dev/null")
			return
		}
		db.mustLatus("prefetch", db.path("small"))
	})
	// Every file now reads back whole on B.
	if got, want := strings.TrimSpace(sh(b, db.mnt, "cat small/* | wc -c")), fmt.Sprint(nFiles*4096); got != want {
		b.Fatalf("reading the small files on B after prefetch: %s bytes, want %s", got, want)
	}
	latusSmallFull := time.Since(closed)
	benchtable.Record(b, timeRow("", prefetchLabel, "report", prefetch, 0, ""))
	da.stop()
	db.stop()

	// --- Syncthing ---
	st, why := startSyncthingPair(b)
	propJob := "close on A to visible on B, median of 20, vs Syncthing"
	bigJob := fmt.Sprintf("%d MiB new file fully on B, vs Syncthing", sizeMB)
	smallJob := fmt.Sprintf("%d x 4 KiB new files fully on B, vs Syncthing", nFiles)
	if st == nil {
		n := "Syncthing: not measured (" + why + ")"
		benchtable.Record(b, timeRow("", propJob, "<= 1s", latusProp, 0, n))
		benchtable.Record(b, timeRow("big-sync", bigJob, "", latusBigFull, 0, n))
		benchtable.Record(b, timeRow("small-sync", smallJob, "", latusSmallFull, 0, n))
	} else {
		stProp := medianPropagation(b, filepath.Join(st[0], "prop"), filepath.Join(st[1], "prop"), 20)
		benchtable.Record(b, timeRow("", propJob, "<= 1s", latusProp, stProp, "Syncthing"))

		// Timed from cp's close, as for Latus above: the sync is in both.
		sh(b, st[0], "cp "+src+" big.bin")
		closed := time.Now()
		sh(b, st[0], "sync big.bin")
		eventually(b, 300*time.Second, "syncthing big.bin on B", func() bool {
			fi, err := os.Stat(filepath.Join(st[1], "big.bin"))
			return err == nil && fi.Size() == size
		})
		stBig := time.Since(closed)
		benchtable.Record(b, timeRow("big-sync", bigJob, "", latusBigFull, stBig, "Syncthing"))

		dir := filepath.Join(st[0], "small")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		writeSmall(b, dir, nFiles)
		// Timed from the last close. A baseline that does not finish is
		// not measured, as when it is not installed; Latus's time is
		// recorded all the same.
		const within = 300 * time.Second
		stSmall, ok := waitFor(within, func() bool {
			return countFiles(filepath.Join(st[1], "small"), 4096) == nFiles
		})
		if !ok {
			benchtable.Record(b, timeRow("small-sync", smallJob, "", latusSmallFull, 0, fmt.Sprintf("Syncthing: not within %s", within)))
			return
		}
		benchtable.Record(b, timeRow("small-sync", smallJob, "", latusSmallFull, stSmall, "Syncthing"))
	}
}

// medianPropagation writes n small files one at a time under from and
// times each until it reads back whole under to.
func medianPropagation(tb testing.TB, from, to string, n int) time.Duration {
	tb.Helper()
	if err := os.MkdirAll(from, 0o755); err != nil {
		tb.Fatal(err)
	}
	var took []time.Duration
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("p%02d.txt", i)
		want := []byte(fmt.Sprintf("propagation %d at %s", i, time.Now()))
		if err := os.WriteFile(filepath.Join(from, name), want, 0o644); err != nil {
			tb.Fatal(err)
		}
		took = append(took, eventually(tb, 60*time.Second, "propagation of "+name, func() bool {
			got, err := os.ReadFile(filepath.Join(to, name))
			return err == nil && bytes.Equal(got, want)
		}))
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	return took[len(took)/2]
}

func writeSmall(tb testing.TB, dir string, n int) {
	tb.Helper()
	buf := make([]byte, 4096)
	for i := 0; i < n; i++ {
		copy(buf, fmt.Sprintf("file %d\n", i))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d.bin", i)), buf, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// countFiles counts the regular files in dir of the given size, leaving
// out Syncthing's temporary files.
func countFiles(dir string, size int64) int {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".syncthing.") {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.Size() == size {
			n++
		}
	}
	return n
}

func freeTCPPort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startProc starts a long-running helper whose output goes to logPath,
// and stops it (SIGTERM, then SIGKILL) at cleanup.
func startProc(tb testing.TB, logPath string, name string, args ...string) (*exec.Cmd, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "STNOUPGRADE=1", "STNODEFAULTFOLDER=1", "STNORESTART=1")
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	tb.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return cmd, nil
}

// benchRclone serves dir with rclone serve webdav on loopback and mounts
// it with --vfs-cache-mode full; it returns the mount point, or "" and
// why not.
func benchRclone(tb testing.TB, dir string) (string, string) {
	if _, err := exec.LookPath("rclone"); err != nil {
		return "", "not available"
	}
	work := tb.TempDir()
	port := freeTCPPort(tb)
	if _, err := startProc(tb, filepath.Join(work, "serve.log"), "rclone", "serve", "webdav", dir,
		"--addr", fmt.Sprintf("127.0.0.1:%d", port), "--config", "/dev/null"); err != nil {
		return "", err.Error()
	}
	mnt := filepath.Join(work, "mnt")
	os.MkdirAll(mnt, 0o755)
	remote := fmt.Sprintf(":webdav,url='http://127.0.0.1:%d/':", port)
	if _, err := startProc(tb, filepath.Join(work, "mount.log"), "rclone", "mount", remote, mnt,
		"--vfs-cache-mode", "full", "--cache-dir", filepath.Join(work, "cache"), "--config", "/dev/null"); err != nil {
		return "", err.Error()
	}
	// Unmount before the process cleanup above runs (cleanups run last
	// registered first).
	tb.Cleanup(func() {
		for i := 0; i < 20 && isMounted(mnt); i++ {
			if exec.Command("fusermount3", "-u", mnt).Run() == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if isMounted(mnt) {
			exec.Command("fusermount3", "-u", "-z", mnt).Run()
		}
	})
	start := time.Now()
	for {
		if _, err := os.Stat(filepath.Join(mnt, "big.bin")); err == nil && isMounted(mnt) {
			return mnt, ""
		}
		if time.Since(start) > 20*time.Second {
			log, _ := os.ReadFile(filepath.Join(work, "mount.log"))
			return "", "mount failed: " + lastLine(string(log))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// syncthingInst is one running Syncthing with its REST API.
type syncthingInst struct {
	home, folder, id, api, key string
	listen                     int
}

func (s *syncthingInst) call(method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		js, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, s.api+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-API-Key", s.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return out, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(out))
	}
	return out, nil
}

// startSyncthingPair starts two Syncthing instances on loopback sharing
// one folder, and returns the two folder paths once they are connected,
// or nil and why not.
func startSyncthingPair(tb testing.TB) ([]string, string) {
	if _, err := exec.LookPath("syncthing"); err != nil {
		return nil, "syncthing not installed"
	}
	var insts []*syncthingInst
	for i := 0; i < 2; i++ {
		s, err := newSyncthing(tb)
		if err != nil {
			return nil, err.Error()
		}
		insts = append(insts, s)
	}
	for i, s := range insts {
		o := insts[1-i]
		if _, err := s.call("POST", "/rest/config/devices", map[string]any{
			"deviceID": o.id, "name": fmt.Sprintf("peer%d", 1-i),
			"addresses": []string{fmt.Sprintf("tcp://127.0.0.1:%d", o.listen)},
		}); err != nil {
			return nil, err.Error()
		}
		if _, err := s.call("POST", "/rest/config/folders", map[string]any{
			"id": "bench", "label": "bench", "path": s.folder, "type": "sendreceive",
			"devices":          []map[string]string{{"deviceID": s.id}, {"deviceID": o.id}},
			"fsWatcherEnabled": true, "fsWatcherDelayS": 1, "rescanIntervalS": 3600,
		}); err != nil {
			return nil, err.Error()
		}
	}
	start := time.Now()
	for {
		ready := true
		for i, s := range insts {
			out, err := s.call("GET", "/rest/system/connections", nil)
			var conns struct {
				Connections map[string]struct{ Connected bool } `json:"connections"`
			}
			if err != nil || json.Unmarshal(out, &conns) != nil || !conns.Connections[insts[1-i].id].Connected {
				ready = false
				break
			}
			out, err = s.call("GET", "/rest/db/status?folder=bench", nil)
			var st struct{ State string }
			if err != nil || json.Unmarshal(out, &st) != nil || st.State != "idle" {
				ready = false
				break
			}
		}
		if ready {
			return []string{insts[0].folder, insts[1].folder}, ""
		}
		if time.Since(start) > 60*time.Second {
			log, _ := os.ReadFile(filepath.Join(insts[0].home, "syncthing.log"))
			return nil, "instances did not connect: " + lastLine(string(log))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var deviceIDRe = regexp.MustCompile(`Device ID: ([A-Z0-9-]{63})`)

func newSyncthing(tb testing.TB) (*syncthingInst, error) {
	base := tb.TempDir()
	s := &syncthingInst{home: filepath.Join(base, "home"), folder: filepath.Join(base, "folder")}
	if err := os.MkdirAll(filepath.Join(s.folder, ".stfolder"), 0o755); err != nil {
		return nil, err
	}
	out, err := exec.Command("syncthing", "generate", "--home="+s.home, "--no-default-folder").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("syncthing generate: %v: %s", err, out)
	}
	m := deviceIDRe.FindSubmatch(out)
	if m == nil {
		return nil, fmt.Errorf("no device ID in %q", out)
	}
	s.id = string(m[1])
	cfgPath := filepath.Join(s.home, "config.xml")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, err
	}
	km := regexp.MustCompile(`<apikey>([^<]+)</apikey>`).FindSubmatch(cfg)
	if km == nil {
		return nil, fmt.Errorf("no apikey in %s", cfgPath)
	}
	s.key = string(km[1])
	s.listen = freeTCPPort(tb)
	gui := freeTCPPort(tb)
	s.api = fmt.Sprintf("http://127.0.0.1:%d", gui)
	text := string(cfg)
	for _, r := range [][2]string{
		{"<listenAddress>default</listenAddress>", fmt.Sprintf("<listenAddress>tcp://127.0.0.1:%d</listenAddress>", s.listen)},
		{"<globalAnnounceEnabled>true<", "<globalAnnounceEnabled>false<"},
		{"<localAnnounceEnabled>true<", "<localAnnounceEnabled>false<"},
		{"<relaysEnabled>true<", "<relaysEnabled>false<"},
		{"<natEnabled>true<", "<natEnabled>false<"},
		{"<startBrowser>true<", "<startBrowser>false<"},
		{"<urAccepted>0<", "<urAccepted>-1<"},
		{"<autoUpgradeIntervalH>12<", "<autoUpgradeIntervalH>0<"},
		{"<crashReportingEnabled>true<", "<crashReportingEnabled>false<"},
	} {
		if !strings.Contains(text, r[0]) {
			return nil, fmt.Errorf("generated config.xml has no %q", r[0])
		}
		text = strings.Replace(text, r[0], r[1], 1)
	}
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		return nil, err
	}
	if _, err := startProc(tb, filepath.Join(s.home, "syncthing.log"), "syncthing", "serve",
		"--home="+s.home, "--no-browser", "--no-restart", "--no-upgrade",
		"--gui-address="+s.api); err != nil {
		return nil, err
	}
	start := time.Now()
	for {
		if _, err := s.call("GET", "/rest/system/ping", nil); err == nil {
			return s, nil
		}
		if time.Since(start) > 30*time.Second {
			log, _ := os.ReadFile(filepath.Join(s.home, "syncthing.log"))
			return nil, fmt.Errorf("syncthing API did not come up: %s", lastLine(string(log)))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
