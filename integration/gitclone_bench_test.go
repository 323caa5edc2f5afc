package integration

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/uberan/latus/internal/benchtable"
)

// BenchmarkGitClone clones a local repository of 10,000 small files
// (LATUS_BENCH_GIT_FILES changes the count) with `git clone
// --no-hardlinks` into the mount and into a native directory, in one run.
// The repository is built here with git from makeTree's tree and packed,
// as a cloned repository is.
func BenchmarkGitClone(b *testing.B) {
	requireTool(b, "git")
	n := envInt("LATUS_BENCH_GIT_FILES", 10000)
	for range b.N {
		tarball := filepath.Join(b.TempDir(), "tree.tar")
		makeTree(b, tarball, n)
		repo := b.TempDir()
		// gc.auto=0: commit would start a gc of its own in the background
		// (over 6,700 loose objects), which the repack here collides with.
		sh(b, repo, "tar xf "+tarball+" && git init -q && git add -A && "+
			"git -c gc.auto=0 -c user.name=bench -c user.email=bench@localhost commit -q -m tree && git repack -adq")
		native := b.TempDir()
		d := newDevice(b)
		d.mount()
		clone := func(dir string) time.Duration {
			return timeIt(func() { sh(b, dir, "git clone -q --no-hardlinks "+repo+" clone") })
		}
		nat := clone(native)
		lat := clone(d.mnt)
		// The clone in the mount is whole: every file is there and git
		// sees no change.
		if got := strings.TrimSpace(sh(b, d.path("clone"), "git ls-files | wc -l")); got != fmt.Sprint(n) {
			b.Fatalf("the clone in the mount has %s files, want %d", got, n)
		}
		if st := sh(b, d.path("clone"), "git status --porcelain"); st != "" {
			b.Fatalf("git status in the mount's clone shows changes:\n%s", st)
		}
		benchtable.Record(b, timeRow("git-clone", fmt.Sprintf("git clone --no-hardlinks of a %d-file local repository vs native", n), "", lat, nat, "native"))
	}
}
