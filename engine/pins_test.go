package engine

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

func TestPinsAreTheUnionOfPinnedPaths(t *testing.T) {
	c := NewTestCluster(t, 0, 1, "a", "b")
	a, b := c.Devs["a"], c.Devs["b"]
	meta.TestMkdir(t, a.Meta, "d", time.Now())
	for i, p := range []string{"d/x", "d/y", "z"} {
		if err := a.Write(p, chunks.RandomBytes(uint64(40+i), 300_000)); err != nil {
			t.Fatal(err)
		}
	}
	meta.TestSync(t, b.Meta, a.Meta, 0) // b learns of a's versions as a pull would bring them
	steps := []struct {
		mode       FetchMode
		path       string
		wantPinned int
		wantErr    error
		wantPaths  []string
	}{
		{mode: Prefetch, path: "z", wantPinned: 0, wantPaths: []string{}},
		{mode: Pin, path: "d", wantPinned: 2, wantPaths: []string{"d"}},
		{mode: Pin, path: "d", wantPinned: 2, wantPaths: []string{"d"}}, // pins do not stack
		{mode: Pin, path: "d/x", wantPinned: 2, wantPaths: []string{"d", "d/x"}},
		{mode: Unpin, path: "d/x", wantPinned: 2, wantPaths: []string{"d"}}, // d still needs x
		{mode: Unpin, path: "d/y", wantPinned: 2, wantErr: ErrPinnedAbove, wantPaths: []string{"d"}},
		{mode: Pin, path: "", wantPinned: 3, wantPaths: []string{"", "d"}},
		{mode: Unpin, path: "d", wantPinned: 3, wantPaths: []string{""}}, // the root still keeps d
		{mode: Unpin, path: "d", wantPinned: 3, wantErr: ErrPinnedAbove, wantPaths: []string{""}},
		{mode: Pin, path: "d/x", wantPinned: 3, wantPaths: []string{"", "d/x"}},
		{mode: Unpin, path: "", wantPinned: 0, wantPaths: []string{}}, // the root and everything in it
		{mode: Unpin, path: "z", wantPinned: 0, wantErr: ErrNotPinned, wantPaths: []string{}},
	}
	for _, st := range steps {
		var total int
		err := b.Engine.Fetch(t.Context(), st.path, st.mode, func(_, n int) { total = n })
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("%v %q: err = %v, want %v", st.mode, st.path, err, st.wantErr)
		}
		if err == nil && total == 0 {
			t.Errorf("%v %q: no progress reported", st.mode, st.path)
		}
		if u := b.Store.Usage(); u.Pinned != st.wantPinned {
			t.Errorf("after %v %q: %d pinned, want %d", st.mode, st.path, u.Pinned, st.wantPinned)
		}
		if got := b.Engine.PinnedPaths(); !slices.Equal(got, st.wantPaths) {
			t.Errorf("after %v %q: pinned paths %q, want %q", st.mode, st.path, got, st.wantPaths)
		}
	}
	if _, err := b.Engine.Chunks("nope"); err == nil {
		t.Error("Chunks of a missing path succeeded")
	}
}

// A folder pinned on b keeps up with a: new files are fetched as they
// are merged, and the chunks of replaced versions are released.
func TestPinnedFolderFollowsChanges(t *testing.T) {
	c := NewTestCluster(t, 0, 1, "a", "b")
	a, b := c.Devs["a"], c.Devs["b"]
	meta.TestMkdir(t, a.Meta, "d", time.Now())
	if err := a.Write("d/old", chunks.RandomBytes(1, 300_000)); err != nil {
		t.Fatal(err)
	}
	c.Sync("b", "a")
	if err := b.Engine.PinPath(t.Context(), "d", nil); err != nil {
		t.Fatal(err)
	}
	old := refsOf(t, b, "d/old")
	if err := a.Write("d/new", chunks.RandomBytes(2, 300_000)); err != nil {
		t.Fatal(err)
	}
	if err := a.Write("d/old", chunks.RandomBytes(3, 300_000)); err != nil {
		t.Fatal(err)
	}
	if err := a.Write("outside", chunks.RandomBytes(4, 300_000)); err != nil {
		t.Fatal(err)
	}
	c.Sync("b", "a")
	want := append(refsOf(t, b, "d/new"), refsOf(t, b, "d/old")...)
	eventually(t, "b holds and pins the new versions under d", func() bool {
		for _, id := range want {
			st, _ := b.Store.Status(id)
			n, _ := b.Store.Pins(id)
			if st != chunks.Complete || n != 1 {
				return false
			}
		}
		return true
	})
	for _, id := range old {
		if n, _ := b.Store.Pins(id); n != 0 {
			t.Errorf("chunk %s of the replaced version still pinned", id.Short())
		}
	}
	for _, id := range refsOf(t, b, "outside") {
		if st, _ := b.Store.Status(id); st == chunks.Complete {
			t.Errorf("chunk %s outside the pinned folder was fetched", id.Short())
		}
	}
}

func TestPinsPersist(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pins.json")
	c := NewTestCluster(t, 0, 1, "a")
	a := c.Devs["a"]
	meta.TestMkdir(t, a.Meta, "d", time.Now())
	meta.TestMkdir(t, a.Meta, "e", time.Now())
	e1, err := New(Options{Store: a.Store, Fetcher: a.Fetcher, Meta: a.Meta, PinsFile: file})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"e", "d"} {
		if err := e1.PinPath(t.Context(), p, nil); err != nil {
			t.Fatal(err)
		}
	}
	e2, err := New(Options{Store: a.Store, Fetcher: a.Fetcher, Meta: a.Meta, PinsFile: file})
	if err != nil {
		t.Fatal(err)
	}
	if got := e2.PinnedPaths(); !slices.Equal(got, []string{"d", "e"}) {
		t.Fatalf("pins after reopening: %q", got)
	}
	if err := os.WriteFile(file, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Store: a.Store, Fetcher: a.Fetcher, Meta: a.Meta, PinsFile: file}); err == nil {
		t.Fatal("a corrupt pins file was accepted")
	}
}
