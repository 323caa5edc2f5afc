package fusefs

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

// TestInlineContent writes small files, grows and shrinks them across
// meta.InlineMax both ways, and reads them back before and after a
// remount: small content lives in the version record, larger content in
// chunks, and a reader sees the same bytes either way.
func TestInlineContent(t *testing.T) {
	state, mnt := t.TempDir(), t.TempDir()
	big := chunks.RandomBytes(7, meta.InlineMax+500)
	tests := []struct {
		name   string
		path   string
		change func(t *testing.T, p string) // run on the mount
		want   []byte                       // content after it
	}{
		{"small write", "small", func(t *testing.T, p string) { mustWrite(t, p, []byte("hello")) }, []byte("hello")},
		{"largest inline", "edge", func(t *testing.T, p string) { mustWrite(t, p, big[:meta.InlineMax]) }, big[:meta.InlineMax]},
		{"one byte over", "over", func(t *testing.T, p string) { mustWrite(t, p, big[:meta.InlineMax+1]) }, big[:meta.InlineMax+1]},
		{"truncate extends past InlineMax", "grow", func(t *testing.T, p string) {
			mustWrite(t, p, []byte("0123456789"))
			if err := os.Truncate(p, meta.InlineMax+100); err != nil {
				t.Fatal(err)
			}
		}, append([]byte("0123456789"), make([]byte, meta.InlineMax+90)...)},
		{"append past InlineMax", "append", func(t *testing.T, p string) {
			mustWrite(t, p, big[:100])
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(big[100:]); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		}, big},
		{"truncate shrinks below InlineMax", "shrink", func(t *testing.T, p string) {
			mustWrite(t, p, big)
			if err := os.Truncate(p, 7); err != nil {
				t.Fatal(err)
			}
		}, big[:7]},
		{"write into an inline file", "patch", func(t *testing.T, p string) {
			mustWrite(t, p, []byte("aaaaaaaa"))
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte("bb"), 3); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		}, []byte("aaabbaaa")},
	}
	m := MountState(t, state, mnt)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(mnt, tc.path)
			tc.change(t, p)
			if got := mustRead(t, p); !bytes.Equal(got, tc.want) {
				t.Fatalf("read %d bytes, want the %d written", len(got), len(tc.want))
			}
			v, err := m.Meta.Lookup(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if inline := len(tc.want) <= meta.InlineMax; v.IsInline() != inline || (len(v.Chunks) == 0) != inline {
				t.Fatalf("%d bytes: inline %v with %d chunks, want inline %v", len(tc.want), v.IsInline(), len(v.Chunks), inline)
			}
			buf := make([]byte, 16)
			if n, err := syscall.Getxattr(p, "user.latus.state", buf); err != nil || string(buf[:n]) != "local" {
				t.Fatalf("user.latus.state = %q, %v", buf[:n], err)
			}
		})
	}
	// Only content over InlineMax has chunks: big ("append", and
	// "shrink" before its truncate), big[:InlineMax+1] and the grown file.
	if u := m.Store.Usage(); u.Chunks != 3 {
		t.Errorf("%d chunks stored, want 3", u.Chunks)
	}
	m.Unmount()

	m = MountState(t, state, mnt)
	for _, tc := range tests {
		if got := mustRead(t, filepath.Join(mnt, tc.path)); !bytes.Equal(got, tc.want) {
			t.Errorf("%s after remount: %d bytes differ from the %d written", tc.path, len(got), len(tc.want))
		}
	}
}
