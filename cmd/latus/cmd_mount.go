package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/uberan/latus/engine"
)

// envReadyFD names the descriptor on which a daemon started by `latus
// mount` reports "ready" or the error that stopped it.
const envReadyFD = "LATUS_READY_FD"

type mountOptions struct {
	cacheSizeText string
	cacheSize     int64
	foreground    bool
	allowOther    bool
	debug         bool
	prefetch      []string
	logFile       string // set by spawnDaemon: log there, rotated
	mountpoint    string
}

func (o *mountOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.cacheSizeText, "cache-size", "", "cap on the chunk cache, e.g. 20GiB (default 10% of the state dir's filesystem, at least 1GiB)")
	fs.BoolVar(&o.foreground, "foreground", false, "serve in the foreground instead of returning once the mount is live")
	fs.BoolVar(&o.allowOther, "allow-other", false, "let other users (and root) use the mount, with normal permission checks")
	fs.BoolVar(&o.debug, "debug", false, "log every FUSE request")
	fs.StringArrayVar(&o.prefetch, "prefetch", nil, "fetch this folder (inside the mount) ahead; repeatable")
	fs.StringVar(&o.logFile, "log-file", "", "log to this file, rotated at 10 MiB (default with --foreground: stderr)")
}

func newMountCommand(g *globalOptions) *cobra.Command {
	var o mountOptions
	cmd := &cobra.Command{
		Use:   "mount [flags] MOUNTPOINT",
		Short: "Mount the Latus folder; returns once the mount is live",
		Long: `mount serves the Latus folder at MOUNTPOINT from a daemon that keeps
running in the background. Detach it with "fusermount -u MOUNTPOINT" (or
"latus unmount MOUNTPOINT"): open files are committed and the daemon exits.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMount(cmd.Context(), g, o, args[0])
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runMount(ctx context.Context, g *globalOptions, o mountOptions, mp string) error {
	configFile, stateDir, err := g.paths()
	if err != nil {
		return err
	}
	if o.cacheSizeText != "" {
		if o.cacheSize, err = parseSize(o.cacheSizeText); err != nil {
			return usageError{err}
		}
	}
	if o.mountpoint, err = filepath.Abs(mp); err != nil {
		return err
	}
	if err := prepareStateDir(stateDir); err != nil {
		return err
	}
	if info, _ := runningDaemon(stateDir); info != nil {
		return inUseError(stateDir)
	}
	if err := prepareMountpoint(o.mountpoint); err != nil {
		return err
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return errors.New("/dev/fuse is missing: install fuse3 (sudo apt-get install fuse3) or load the module (sudo modprobe fuse); in a container, pass --device /dev/fuse")
	}
	if o.foreground {
		return runDaemon(ctx, o, stateDir, configFile)
	}
	return spawnDaemon(o, stateDir, configFile)
}

func prepareStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state dir %s cannot be created: %w; pass --state DIR to use another", dir, err)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("state dir %s is not writable: %w; pass --state DIR to use another", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// prepareMountpoint creates mp if missing, cleans a stale mount left by a
// killed daemon, and refuses a non-empty directory.
func prepareMountpoint(mp string) error {
	_, err := os.Stat(mp)
	if errors.Is(err, syscall.ENOTCONN) {
		// "transport endpoint is not connected": a daemon died with the
		// mount in place. Detach it; the stores are intact.
		if out, uerr := exec.Command("fusermount3", "-u", "-z", mp).CombinedOutput(); uerr != nil {
			return fmt.Errorf("%s is a stale mount of a daemon that died and could not be cleaned: %s; run \"fusermount -u -z %s\"", mp, strings.TrimSpace(string(out)), mp)
		}
		_, err = os.Stat(mp)
	}
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(mp, 0o755); err != nil {
			return fmt.Errorf("create mount point: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("mount point %s: %w", mp, err)
	}
	ents, err := os.ReadDir(mp)
	if err != nil {
		return fmt.Errorf("mount point %s: %w", mp, err)
	}
	if len(ents) > 0 {
		return fmt.Errorf("mount point %s is not empty (%d entries); mount on an empty directory, or move its files into the mount afterwards", mp, len(ents))
	}
	return nil
}

// spawnDaemon re-runs latus in the foreground as a detached daemon and
// waits for it to say the mount is live, or why it is not.
func spawnDaemon(o mountOptions, stateDir, configFile string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logPath := filepath.Join(stateDir, logName)
	errPath := filepath.Join(stateDir, stderrName)
	logFile, err := os.OpenFile(errPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", errPath, err)
	}
	defer logFile.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	args := []string{"mount", "--foreground", "--state", stateDir, "--config", configFile, "--log-file", logPath}
	if o.cacheSize > 0 {
		args = append(args, "--cache-size", strconv.FormatInt(o.cacheSize, 10))
	}
	if o.allowOther {
		args = append(args, "--allow-other")
	}
	if o.debug {
		args = append(args, "--debug")
	}
	for _, p := range o.prefetch {
		args = append(args, "--prefetch", p)
	}
	args = append(args, o.mountpoint)
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.ExtraFiles = []*os.File{w}
	cmd.Env = append(os.Environ(), envReadyFD+"=3")
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("start daemon: %w", err)
	}
	w.Close()
	line, _ := bufio.NewReader(r).ReadString('\n')
	line = strings.TrimSpace(line)
	switch {
	case line == "ready":
		cmd.Process.Release()
		return nil
	case strings.HasPrefix(line, "error: "):
		cmd.Wait()
		return errors.New(strings.TrimPrefix(line, "error: "))
	}
	cmd.Wait()
	return fmt.Errorf("the daemon exited before the mount was live; see %s and %s", logPath, errPath)
}

// runDaemon serves the mount in this process.
func runDaemon(ctx context.Context, o mountOptions, stateDir, configFile string) error {
	ready := readyReporter()
	log, closeLog := daemonLogger(o.logFile)
	defer closeLog()
	lock, err := acquireLock(stateDir)
	if err != nil {
		ready(err)
		return err
	}
	defer lock.Close()
	d, err := startDaemon(ctx, o, stateDir, configFile, log)
	if err != nil {
		ready(err)
		return err
	}
	writeLockInfo(lock, daemonInfo{PID: os.Getpid(), Mountpoint: o.mountpoint})
	if d.stopControl, err = serveControl(d, d.metrics(), log); err != nil {
		d.stopControl = func() {}
		d.srv.Unmount()
		d.close()
		ready(err)
		return err
	}
	log.Info("mounted", "mountpoint", o.mountpoint, "state", stateDir, "device", d.id.Device, "pid", os.Getpid())
	ready(nil)
	if len(o.prefetch) > 0 {
		d.jobs.Go(func() { d.job(func(ctx context.Context) { d.prefetch(ctx, o.prefetch) }) })
	}
	d.jobs.Go(func() { d.pruner.loop(d.jobCtx) })
	d.watches.resume(d)
	err = d.serve(ctx)
	log.Info("unmounted; daemon exits", "err", err)
	return err
}

// readyReporter returns the function that tells `latus mount` the outcome;
// a no-op when run in the foreground by hand.
func readyReporter() func(error) {
	fdText := os.Getenv(envReadyFD)
	os.Unsetenv(envReadyFD)
	fd, err := strconv.Atoi(fdText)
	if err != nil {
		return func(error) {}
	}
	f := os.NewFile(uintptr(fd), "ready")
	return func(e error) {
		if f == nil {
			return
		}
		if e != nil {
			fmt.Fprintf(f, "error: %v\n", e)
		} else {
			io.WriteString(f, "ready\n")
		}
		f.Close()
		f = nil
	}
}

// prefetch fetches the chunks of every file under dirs (paths inside the
// mount), logging progress.
func (d *daemon) prefetch(ctx context.Context, dirs []string) {
	for _, dir := range dirs {
		p, err := storePath(dir, d.mountpoint)
		if err != nil {
			d.log.Warn("prefetch", "dir", dir, "err", err)
			continue
		}
		start := time.Now()
		var chunks int
		// At mount the other devices are usually not online yet: what no
		// device could supply is tried again until it arrives.
		for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
			err = d.engine.Fetch(ctx, p, engine.Prefetch, func(_, total int) { chunks = total })
			if err == nil || ctx.Err() != nil {
				break
			}
			d.log.Info("prefetch: waiting for devices that hold the data", "dir", dir, "retry in", wait, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		d.log.Info("prefetched", "dir", dir, "chunks", chunks, "took", time.Since(start), "err", err)
	}
}
