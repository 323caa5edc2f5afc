package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// The running daemon holds an flock on <state>/lock and writes its pid and
// mount point into it, so a second mount on one state dir, and the other
// verbs, know who runs.
const lockName = "lock"

type daemonInfo struct {
	PID        int
	Mountpoint string
}

// acquireLock takes the state dir's lock or says who holds it.
func acquireLock(stateDir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(stateDir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, inUseError(stateDir)
		}
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	return f, nil
}

func writeLockInfo(f *os.File, info daemonInfo) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(fmt.Sprintf("%d\n%s\n", info.PID, info.Mountpoint)), 0)
	return err
}

func inUseError(stateDir string) error {
	info, _ := runningDaemon(stateDir)
	if info == nil {
		return fmt.Errorf("state dir %s is in use by another latus process", stateDir)
	}
	return fmt.Errorf("state dir %s is in use by a running daemon (pid %d, mounted on %s); run \"fusermount -u %s\" first",
		stateDir, info.PID, info.Mountpoint, info.Mountpoint)
}

// lastMountpoint is the mount point the last daemon of stateDir recorded in
// its lock (kept after it exits), or "" when none is known.
func lastMountpoint(stateDir string) string {
	b, err := os.ReadFile(filepath.Join(stateDir, lockName))
	if err != nil {
		return ""
	}
	lines := strings.SplitN(string(b), "\n", 3)
	if len(lines) < 2 || !filepath.IsAbs(lines[1]) {
		return ""
	}
	return lines[1]
}

// runningDaemon returns the daemon holding stateDir's lock, or nil.
func runningDaemon(stateDir string) (*daemonInfo, error) {
	p := filepath.Join(stateDir, lockName)
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return nil, nil // nobody holds it
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	lines := strings.SplitN(string(b), "\n", 3)
	if len(lines) < 2 {
		return &daemonInfo{}, nil // starting: info not written yet
	}
	pid, _ := strconv.Atoi(lines[0])
	return &daemonInfo{PID: pid, Mountpoint: lines[1]}, nil
}

// requireDaemon returns the state dir and its running daemon, or an error
// saying how to start one; hint, when not empty, is added to it.
func requireDaemon(g *globalOptions, hint string) (string, *daemonInfo, error) {
	stateDir, err := g.stateDir()
	if err != nil {
		return "", nil, err
	}
	info, err := runningDaemon(stateDir)
	if err != nil {
		return "", nil, err
	}
	if info == nil {
		msg := fmt.Sprintf("no daemon running for state dir %s; start one with \"latus mount DIR\"", stateDir)
		if hint != "" {
			msg += " (" + hint + ")"
		}
		return "", nil, errors.New(msg)
	}
	return stateDir, info, nil
}
