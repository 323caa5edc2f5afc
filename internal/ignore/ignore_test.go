package ignore

import "testing"

func TestIgnored(t *testing.T) {
	files := map[string]string{
		"":          "build/\n*.log\n!keep.log\n/top-only.txt\n",
		"docs":      "drafts/\nsecret.txt\n",
		"docs/deep": "*.bak\n",
	}
	m := New(func(dir string) ([]byte, bool) {
		s, ok := files[dir]
		return []byte(s), ok
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
