package fusefs

import (
	"bytes"
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/uberan/latus/meta"
)

// A file another device made can arrive between the kernel's lookup of a
// name (not there) and its create: open(O_CREAT) without O_EXCL must open
// that file, not fail with EEXIST (seen in the restored-state-dir test).
func TestCreateOfANameThatJustArrived(t *testing.T) {
	tests := []struct {
		name      string
		flags     uint32
		wantErrno syscall.Errno
		wantSize  int64
	}{
		{"opens it", syscall.O_WRONLY | syscall.O_CREAT, 0, 5},
		{"truncates it with O_TRUNC", syscall.O_WRONLY | syscall.O_CREAT | syscall.O_TRUNC, 0, 0},
		{"refuses it with O_EXCL", syscall.O_WRONLY | syscall.O_CREAT | syscall.O_EXCL, syscall.EEXIST, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := TestMount(t)
			data := []byte("there")
			refs, hash, size, err := m.Store.PutStream(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			meta.TestCommit(t, m.Meta, meta.Change{Kind: meta.Created, Path: "x.txt", File: meta.FileVersion{
				Kind: meta.KindFile, Mode: 0o644, Size: size, MTime: time.Now(), Chunks: refs, Hash: hash,
			}})
			var out fuse.EntryOut
			ctx := context.Background()
			_, fh, _, errno := m.FS.root.Create(ctx, "x.txt", tc.flags, 0o644, &out)
			if errno != tc.wantErrno {
				t.Fatalf("Create: errno %v, want %v", errno, tc.wantErrno)
			}
			if errno != 0 {
				return
			}
			h := fh.(*handle)
			defer h.Release(ctx)
			got, err := h.st.size()
			if err != nil || got != tc.wantSize {
				t.Errorf("the opened file's size: %d, %v; want %d", got, err, tc.wantSize)
			}
		})
	}
}
