package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestImportIgnores: a folder's .latusignore on disk wins over the tree's
// at the same place; the tree's applies where the disk has none.
func TestImportIgnores(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", ".latusignore"), []byte("*.raw\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tree := map[string]string{"a": "*.jpg\n", "b": "*.jpg\n"}
	m := importIgnores(dir, func(d string) ([]byte, bool, error) {
		s, ok := tree[d]
		return []byte(s), ok, nil
	})
	tests := []struct {
		path string
		want bool
	}{
		{"a/x.raw", true},
		{"a/x.jpg", false}, // the disk's rules replace the tree's in a
		{"b/x.jpg", true},
		{"b/x.raw", false},
		{"c/x.tmp", true}, // defaults
		{"c/x.txt", false},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			if got := m.Ignored(tc.path, false); got != tc.want {
				t.Fatalf("Ignored(%q) = %v, want %v", tc.path, got, tc.want)
			}
		})
	}
}
