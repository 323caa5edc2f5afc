package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRotatingLog writes past the cap and finds the log rotated: a fresh
// latus.log under the cap and the old one kept beside it.
func TestRotatingLog(t *testing.T) {
	dir := t.TempDir()
	l := rotatingLog(filepath.Join(dir, logName), 1)
	// Compression runs in lumberjack's background goroutine, which would
	// race the test's cleanup of dir; rotation is what is tested here.
	l.Compress = false
	line := bytes.Repeat([]byte("x"), 1023)
	line = append(line, '\n')
	for i := 0; i < 1500; i++ { // 1.5 MiB through a 1 MB cap
		if _, err := l.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 1<<20 {
		t.Errorf("latus.log is %d bytes, over the 1 MB cap", st.Size())
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var old []string
	for _, e := range ents {
		if e.Name() != logName && strings.HasPrefix(e.Name(), "latus-") {
			old = append(old, e.Name())
		}
	}
	if len(old) == 0 {
		t.Fatalf("no rotated file beside latus.log: %v", ents)
	}
}
