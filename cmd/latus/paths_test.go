package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStorePath(t *testing.T) {
	mnt := t.TempDir()
	tests := []struct {
		name, arg, mountpoint, want string
		wantErr                     bool
	}{
		{"inside the mount", filepath.Join(mnt, "a/b.txt"), mnt, "a/b.txt", false},
		{"the mount itself", mnt, mnt, "", false},
		{"relative to the root", "a/./b.txt", mnt, "a/b.txt", false},
		{"relative, no mount known", "docs/x", "", "docs/x", false},
		{"absolute outside the mount", "/etc/passwd", mnt, "", true},
		{"absolute, no mount known", "/etc/passwd", "", "", true},
		{"a sibling with the mount as prefix", mnt + "x/f", mnt, "", true},
		{"escapes the root", "../x", mnt, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := storePath(tc.arg, tc.mountpoint)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("storePath(%q, %q) = %q, %v; want %q, err %v", tc.arg, tc.mountpoint, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestLockRecordsDaemon(t *testing.T) {
	dir := t.TempDir()
	if info, err := runningDaemon(dir); info != nil || err != nil {
		t.Fatalf("no lock yet: %v, %v", info, err)
	}
	f, err := acquireLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeLockInfo(f, daemonInfo{PID: os.Getpid(), Mountpoint: "/mnt/latus"}); err != nil {
		t.Fatal(err)
	}
	info, err := runningDaemon(dir)
	if err != nil || info == nil || info.PID != os.Getpid() || info.Mountpoint != "/mnt/latus" {
		t.Fatalf("while held: %+v, %v", info, err)
	}
	if _, err := acquireLock(dir); err == nil {
		t.Fatal("a second lock on one state dir succeeded")
	} else if want := "in use by a running daemon"; !strings.Contains(err.Error(), want) {
		t.Fatalf("second lock: %v, want %q", err, want)
	}
	f.Close()
	if info, err := runningDaemon(dir); info != nil || err != nil {
		t.Fatalf("after release: %+v, %v", info, err)
	}
	if got := lastMountpoint(dir); got != "/mnt/latus" {
		t.Fatalf("lastMountpoint after the daemon left = %q", got)
	}
	if got := lastMountpoint(t.TempDir()); got != "" {
		t.Fatalf("lastMountpoint of a fresh dir = %q", got)
	}
}
