package integration

import (
	"crypto/rand"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func randomFile(t *testing.T, p string, n int) {
	t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPinnedFolderFollowsNewFiles pins a folder on B; a file A adds to it
// later becomes local on B without being read, one added elsewhere does
// not, and the pin survives B's restart.
func TestPinnedFolderFollowsNewFiles(t *testing.T) {
	acct := newAccount(t)
	acct.config = "replicas = 1\n" // no copies but the ones asked for
	a, b := acct.device(t), acct.device(t)
	if err := os.Mkdir(a.path("docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	randomFile(t, a.path("docs/one.bin"), 1<<20)
	eventually(t, 5*time.Second, "docs/one.bin listed on B", func() bool {
		_, err := os.Stat(b.path("docs/one.bin"))
		return err == nil
	})
	b.mustLatus("pin", b.path("docs"))
	eventually(t, 10*time.Second, "docs/one.bin local on B after pin", func() bool {
		return xattr(b.path("docs/one.bin"), "user.latus.state") == "local"
	})

	randomFile(t, a.path("docs/two.bin"), 2<<20)
	randomFile(t, a.path("elsewhere.bin"), 1<<20)
	eventually(t, 10*time.Second, "docs/two.bin local on B without a read", func() bool {
		st, err := os.Stat(b.path("docs/two.bin"))
		return err == nil && st.Size() == 2<<20 && xattr(b.path("docs/two.bin"), "user.latus.state") == "local"
	})
	eventually(t, 5*time.Second, "elsewhere.bin listed on B with its content", func() bool {
		st, err := os.Stat(b.path("elsewhere.bin"))
		return err == nil && st.Size() == 1<<20 // an empty file is local everywhere
	})
	if s := xattr(b.path("elsewhere.bin"), "user.latus.state"); s != "remote" {
		t.Errorf("elsewhere.bin on B (not pinned): %q, want remote", s)
	}
	if out := b.mustLatus("pin"); !strings.Contains(out, b.path("docs")) || !strings.Contains(out, "100%") {
		t.Errorf("latus pin lists:\n%s", out)
	}
	aDev := regexp.MustCompile(`device:\s+(\S+)`).FindStringSubmatch(a.mustLatus("status"))[1]
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"docs/two.bin", []string{"state:        local", "pinned:       yes, by docs", "copies:       2 devices", "versions:     2 kept", "by device " + aDev}},
		{"elsewhere.bin", []string{"state:        remote", "pinned:       no", "copies:       1 devices known"}},
		{"docs", []string{"(dir)", "files:        2 (3.0 MiB): 2 local, 0 partial, 0 remote, 0 ignored", "pinned:       yes\n"}},
	} {
		out := b.mustLatus("status", b.path(tc.path))
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("status %s on B lacks %q:\n%s", tc.path, w, out)
			}
		}
	}
	if out, err := b.latus("status", b.path("nope")); err == nil || !strings.Contains(out, "not found") {
		t.Errorf("status of a missing path: %v %q", err, out)
	}

	b.unmount()
	b.mount()
	if out := b.mustLatus("pin"); !strings.Contains(out, b.path("docs")) {
		t.Errorf("pins after B's restart:\n%s", out)
	}
	randomFile(t, a.path("docs/three.bin"), 1<<20)
	eventually(t, 10*time.Second, "docs/three.bin local on B after its restart", func() bool {
		st, err := os.Stat(b.path("docs/three.bin"))
		return err == nil && st.Size() == 1<<20 && xattr(b.path("docs/three.bin"), "user.latus.state") == "local"
	})

	b.mustLatus("unpin", b.path("docs"))
	if out := b.mustLatus("pin"); !strings.Contains(out, "nothing pinned") {
		t.Errorf("pins after unpin:\n%s", out)
	}
	if out, err := b.latus("unpin", b.path("docs/one.bin")); err == nil || !strings.Contains(out, "not pinned") {
		t.Errorf("unpinning what is not pinned: %v %q", err, out)
	}
}

// TestMountPrefetch restarts B with --prefetch on a folder it knows of:
// its files become local without being read; others stay remote.
func TestMountPrefetch(t *testing.T) {
	acct := newAccount(t)
	acct.config = "replicas = 1\n" // no copies but the ones asked for
	a, b := acct.device(t), acct.device(t)
	if err := os.Mkdir(a.path("music"), 0o755); err != nil {
		t.Fatal(err)
	}
	randomFile(t, a.path("music/song.flac"), 3<<20)
	randomFile(t, a.path("other.bin"), 1<<20)
	eventually(t, 5*time.Second, "A's files listed on B with their content", func() bool {
		st1, err1 := os.Stat(b.path("music/song.flac"))
		st2, err2 := os.Stat(b.path("other.bin"))
		return err1 == nil && err2 == nil && st1.Size() == 3<<20 && st2.Size() == 1<<20
	})
	b.unmount()
	b.mount("--prefetch", b.path("music"))
	eventually(t, 10*time.Second, "music/song.flac local on B without a read", func() bool {
		return xattr(b.path("music/song.flac"), "user.latus.state") == "local"
	})
	if s := xattr(b.path("other.bin"), "user.latus.state"); s != "remote" {
		t.Errorf("other.bin on B (not prefetched): %q, want remote", s)
	}
}
