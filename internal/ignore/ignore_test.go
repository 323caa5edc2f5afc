package ignore

import (
	"errors"
	"sync"
	"testing"
)

func TestIgnored(t *testing.T) {
	files := map[string]string{
		"":          "build/\n*.log\n!keep.log\n/top-only.txt\n",
		"docs":      "drafts/\nsecret.txt\n",
		"docs/deep": "*.bak\n",
	}
	m := New(func(dir string) ([]byte, bool, error) {
		s, ok := files[dir]
		return []byte(s), ok, nil
	})
	tests := []struct {
		path  string
		isDir bool
		want  bool
	}{
		{"notes.txt", false, false},
		{"notes.swp", false, true},
		{"docs/.notes.txt.swp", false, true},
		{"report.docx~", false, true},
		{"~$report.docx", false, true},
		{".#lock", false, true},
		{"a/b/Thumbs.db", false, true},
		{"x.tmp", false, true},
		{"build", true, true},
		{"build/out.bin", false, true},
		{"src/build/out.bin", false, true},
		{"build", false, false}, // a file named build: the pattern wants a folder
		{"app.log", false, true},
		{"keep.log", false, false},
		{"top-only.txt", false, true},
		{"docs/top-only.txt", false, false},
		{"docs/secret.txt", false, true},
		{"secret.txt", false, false}, // docs' rules stay in docs
		{"docs/drafts/a.txt", false, true},
		{"docs/deep/x.bak", false, true},
		{"docs/x.bak", false, false},
		{".latusignore", false, false},
		{"docs/.latusignore", false, false},
		{"", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			if got := m.Ignored(tc.path, tc.isDir); got != tc.want {
				t.Fatalf("Ignored(%q, dir=%v) = %v, want %v", tc.path, tc.isDir, got, tc.want)
			}
		})
	}
	if New(nil).Ignored("a.txt", false) || !New(nil).Ignored("a.swp", false) {
		t.Error("a matcher without a source does not apply the defaults alone")
	}
}

// TestRulesKept: a folder's .latusignore is read once, not at every
// question; Forget of it (written, deleted) makes the next question read
// it again; a failed read is not kept.
func TestRulesKept(t *testing.T) {
	var mu sync.Mutex
	files := map[string]string{"": "*.log\n"}
	reads := map[string]int{}
	fail := false
	m := New(func(dir string) ([]byte, bool, error) {
		mu.Lock()
		defer mu.Unlock()
		reads[dir]++
		if fail {
			return nil, false, errors.New("unreachable")
		}
		s, ok := files[dir]
		return []byte(s), ok, nil
	})
	set := func(dir, text string, fails bool) {
		mu.Lock()
		defer mu.Unlock()
		files[dir], fail = text, fails
		clear(reads)
	}
	check := func(p string, want bool) {
		t.Helper()
		if got := m.Ignored(p, false); got != want {
			t.Fatalf("Ignored(%q) = %v, want %v", p, got, want)
		}
	}
	for range 3 {
		check("a/b/x.log", true)
		check("a/b/x.txt", false)
	}
	if reads[""] != 1 || reads["a"] != 1 || reads["a/b"] != 1 {
		t.Fatalf("rules read %v, want each folder once", reads)
	}

	set("a", "*.txt\n", false)
	check("a/b/x.txt", false) // not forgotten yet: the kept rules
	m.Forget("a/b/notes.md")  // not an ignore file: nothing read again
	check("a/b/x.txt", false)
	m.Forget("a/.latusignore")
	check("a/b/x.txt", true)
	check("a/b/y.txt", true)
	if reads["a"] != 1 || reads[""] != 0 {
		t.Fatalf("after Forget(a/.latusignore) rules read %v, want a's once and no other", reads)
	}

	set("", "*.log\n", true)
	m.Forget(".latusignore")
	check("x.log", false) // the root's rules cannot be read now
	set("", "*.log\n", false)
	check("x.log", true) // and the failure was not kept
}
