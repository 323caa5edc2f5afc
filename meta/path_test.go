package meta

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidatePath(t *testing.T) {
	long := strings.Repeat("a", 255)
	tests := []struct {
		path string
		ok   bool
	}{
		{"a", true},
		{"a/b/c.txt", true},
		{".latusx", true},
		{"a/.latus", true},
		{"..a", true},
		{"a b/ü.txt", true},
		{long, true},
		{long + "/" + long, true},
		{"", false},
		{".", false},
		{"/a", false},
		{"a/", false},
		{"a//b", false},
		{"./a", false},
		{"a/./b", false},
		{"..", false},
		{"../a", false},
		{"a/../b", false},
		{"a/..", false},
		{"a\x00b", false},
		{".latus", false},
		{".latus/cert.pem", false},
		{long + "a", false},
		{strings.Repeat("abc/", 1024) + "x", false},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			err := ValidatePath(tc.path)
			if tc.ok && err != nil {
				t.Errorf("ValidatePath(%q) = %v, want nil", tc.path, err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidPath) {
				t.Errorf("ValidatePath(%q) = %v, want ErrInvalidPath", tc.path, err)
			}
		})
	}
}

func TestConflictName(t *testing.T) {
	mt := time.Date(2024, 3, 9, 14, 5, 7, 999, time.FixedZone("X", 3600))
	tests := []struct{ path, want string }{
		{"notes.txt", "notes.sync-conflict-20240309-130507-dev1.txt"},
		{"a/b/report.tar.gz", "a/b/report.tar.sync-conflict-20240309-130507-dev1.gz"},
		{"Makefile", "Makefile.sync-conflict-20240309-130507-dev1"},
		{"d/.bashrc", "d/.bashrc.sync-conflict-20240309-130507-dev1"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			got := conflictName(tc.path, mt, "dev1")
			if got != tc.want {
				t.Errorf("conflictName(%q) = %q, want %q", tc.path, got, tc.want)
			}
			if !IsConflictCopy(got) || IsConflictCopy(tc.path) {
				t.Errorf("IsConflictCopy wrong for %q / %q", got, tc.path)
			}
		})
	}
	t.Run("long name stays valid", func(t *testing.T) {
		p := "d/" + strings.Repeat("é", 120) + ".txt"
		got := conflictName(p, mt, strings.Repeat("x", 64))
		if err := ValidatePath(got); err != nil {
			t.Fatalf("conflictName(%q) = %q: %v", p, got, err)
		}
		if !strings.HasSuffix(got, ".txt") || !strings.HasPrefix(got, "d/éé") {
			t.Errorf("conflictName(%q) = %q", p, got)
		}
	})
}

func FuzzValidatePath(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../a", ".latus/x", "a//b", "/a", "a\x00", strings.Repeat("x/", 3000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		err := ValidatePath(p)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("error %v does not wrap ErrInvalidPath", err)
			}
			return
		}
		// Accepted paths must be safe to join under a root.
		if p == "" || p[0] == '/' || strings.Contains(p, "\x00") || len(p) > MaxPath {
			t.Fatalf("accepted %q", p)
		}
		for i, e := range strings.Split(p, "/") {
			if e == "" || e == "." || e == ".." || len(e) > MaxName || (i == 0 && e == StateDir) {
				t.Fatalf("accepted %q with element %q", p, e)
			}
		}
	})
}
