package integration

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestIgnoredFilesStayLocal writes ignored files (defaults and a
// .latusignore) beside normal ones on A: they work in A's mount but never
// list on B, while the normal files and the .latusignore itself do.
func TestIgnoredFilesStayLocal(t *testing.T) {
	acct := newAccount(t)
	a, b := acct.device(t), acct.device(t)
	// The rules first: a file that exists when it becomes ignored stays synced.
	writeTree(t, a.mnt, map[string]string{".latusignore": "build/\n*.log\n"})
	writeTree(t, a.mnt, map[string]string{
		"notes.txt":        "normal",
		".notes.txt.swp":   "vim swap",
		"report.docx~":     "backup",
		"app.log":          "log line",
		"build/out.bin":    "artifact",
		"docs/Thumbs.db":   "thumbs",
		"docs/keep.md":     "kept",
		"docs/draft.tmp":   "saved through a temp file",
		"docs/~$lock.docx": "office lock",
	})
	// Ignored files work as usual on A.
	for p, want := range map[string]string{".notes.txt.swp": "vim swap", "build/out.bin": "artifact", "app.log": "log line"} {
		if got := readFile(t, a.path(p)); got != want {
			t.Errorf("%s on A: %q, want %q", p, got, want)
		}
		if s := xattr(a.path(p), "user.latus.state"); s != "ignored" {
			t.Errorf("user.latus.state of %s on A: %q, want ignored", p, s)
		}
	}
	if ls := sh(t, a.mnt, "ls -A . docs"); !strings.Contains(ls, ".notes.txt.swp") || !strings.Contains(ls, "draft.tmp") {
		t.Errorf("ls on A does not show the ignored files:\n%s", ls)
	}
	// An editor's save through a temp file: the result is synced.
	if err := os.Rename(a.path("docs/draft.tmp"), a.path("docs/draft.md")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a.path("last.txt"), []byte("written last"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "A's last normal file on B", func() bool {
		b, err := os.ReadFile(b.path("last.txt"))
		return err == nil && string(b) == "written last"
	})
	for p, want := range map[string]string{"notes.txt": "normal", "docs/keep.md": "kept", "docs/draft.md": "saved through a temp file", ".latusignore": "build/\n*.log\n"} {
		if got := readFile(t, b.path(p)); got != want {
			t.Errorf("%s on B: %q, want %q", p, got, want)
		}
	}
	for _, p := range []string{".notes.txt.swp", "report.docx~", "app.log", "build", "docs/Thumbs.db", "docs/draft.tmp", "docs/~$lock.docx"} {
		if _, err := os.Lstat(b.path(p)); !os.IsNotExist(err) {
			t.Errorf("ignored %s lists on B: %v", p, err)
		}
	}
	if out, err := a.latus("log", a.path("app.log")); err == nil {
		t.Errorf("an ignored file has versions:\n%s", out)
	}
	if out := a.mustLatus("status"); !strings.Contains(out, "6 ignored files") {
		t.Errorf("A's status does not count 6 ignored files:\n%s", out)
	}
	if out := a.mustLatus("status", a.path("app.log")); !strings.Contains(out, "ignored") {
		t.Errorf("status app.log on A:\n%s", out)
	}
	sh(t, a.mnt, "rm .notes.txt.swp && rm -r build")
	if _, err := os.Stat(a.path("build")); !os.IsNotExist(err) {
		t.Errorf("build after rm -r on A: %v", err)
	}

	// import skips what .latusignore and the defaults ignore.
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		"photos/.latusignore": "*.raw\n",
		"photos/a.jpg":        "jpeg",
		"photos/a.raw":        "raw",
		"photos/b.tmp":        "tmp",
	})
	a.mustLatus("import", src)
	if got := readFile(t, a.path("photos/a.jpg")); got != "jpeg" {
		t.Errorf("imported a.jpg: %q", got)
	}
	for _, p := range []string{"photos/a.raw", "photos/b.tmp"} {
		if _, err := os.Lstat(a.path(p)); !os.IsNotExist(err) {
			t.Errorf("import brought ignored %s: %v", p, err)
		}
	}
}
