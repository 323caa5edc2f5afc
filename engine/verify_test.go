package engine

import (
	"slices"
	"testing"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

// Collection hands an unreferenced chunk to its holder, who proves it and
// stops counting the giver as a keeper; a holder that lost the chunk
// fetches it again first; an offline holder is not trusted at all.
func TestVerifyHandsOverBeforeGivingUp(t *testing.T) {
	tests := []struct {
		name      string
		prepare   func(c *TestCluster, id chunks.ID)
		wantGiven bool
	}{
		{"holder keeps it", func(*TestCluster, chunks.ID) {}, true},
		{"holder lost it", func(c *TestCluster, id chunks.ID) {
			if err := c.Devs["b"].Store.Remove(id); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"holder offline", func(c *TestCluster, _ chunks.ID) { c.SetUp("b", false) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewTestCluster(t, 0, 2, "a", "b")
			a, b := c.Devs["a"], c.Devs["b"]
			if err := a.Write("f", chunks.RandomBytes(7, 100_000)); err != nil {
				t.Fatal(err)
			}
			id := refsOf(t, a, "f")[0]
			eventually(t, "a counts b as a keeper", func() bool {
				hs, _ := a.Store.Holders(id)
				return slices.Contains(hs, "b") && slices.Contains(c.Keepers(id), "b")
			})
			tc.prepare(c, id)
			given := a.Engine.Verify([]chunks.ID{id})
			if got := len(given) == 1; got != tc.wantGiven {
				t.Fatalf("Verify gave up %v, want given up: %v", given, tc.wantGiven)
			}
			in, _ := a.Store.Stat(id)
			if in.Custody == tc.wantGiven {
				t.Errorf("a's custody after Verify: %v", in.Custody)
			}
			if !tc.wantGiven {
				return
			}
			if got := c.Keepers(id); !slices.Equal(got, []string{"b"}) {
				t.Errorf("keepers %v, want [b]", got)
			}
			if hs, _ := b.Store.Holders(id); slices.Contains(hs, "a") {
				t.Errorf("b still counts a as a keeper: %v", hs)
			}
		})
	}
}

// A holder that comes online without the chunks it proved to keep (its
// state dir restored from an older copy) is asked to prove them again and
// keeps them again.
func TestRestoredHolderIsProvedAgain(t *testing.T) {
	c := NewTestCluster(t, 0, 2, "a", "b")
	a, b := c.Devs["a"], c.Devs["b"]
	if err := a.Write("f", chunks.RandomBytes(8, 100_000)); err != nil {
		t.Fatal(err)
	}
	id := refsOf(t, a, "f")[0]
	eventually(t, "a counts b as a keeper", func() bool {
		hs, _ := a.Store.Holders(id)
		return slices.Contains(hs, "b") && slices.Contains(c.Keepers(id), "b")
	})
	if err := b.Store.Remove(id); err != nil { // what a restore from an older copy does
		t.Fatal(err)
	}
	c.SetUp("b", false)
	c.SetUp("b", true)
	eventually(t, "b keeps the chunk again", func() bool { return slices.Contains(c.Keepers(id), "b") })
}

// A holder that is gone does not count: the copy is placed on another
// device.
func TestOfflineHolderIsReplaced(t *testing.T) {
	c := NewTestCluster(t, 0, 2, "a", "b", "c")
	a := c.Devs["a"]
	if err := a.Write("f", chunks.RandomBytes(9, 100_000)); err != nil {
		t.Fatal(err)
	}
	id := refsOf(t, a, "f")[0]
	eventually(t, "two keepers", func() bool { return len(c.Keepers(id)) == 2 })
	other := c.Keepers(id)[1] // "a" sorts first
	c.SetUp(other, false)
	a.Engine.DeviceOnline(a.Name) // kick a round
	eventually(t, "three keepers, two of them online", func() bool { return len(c.Keepers(id)) == 3 })
}

// Restoring an old version fetches its content and keeps it here, as a
// local write, before the version is committed: the device whose history
// held the old content may prune and collect it.
func TestRestoreKeepsTheContent(t *testing.T) {
	c := NewTestCluster(t, 0, 1, "a", "b")
	a, b := c.Devs["a"], c.Devs["b"]
	if err := a.Write("f", chunks.RandomBytes(10, 100_000)); err != nil {
		t.Fatal(err)
	}
	old := refsOf(t, a, "f")[0]
	if err := a.Write("f", chunks.RandomBytes(11, 100_000)); err != nil {
		t.Fatal(err)
	}
	meta.TestSync(t, b.Meta, a.Meta, 0)
	v, err := b.Engine.Restore(t.Context(), "f", 1)
	if err != nil {
		t.Fatal(err)
	}
	if v.Chunks[0].ID != old {
		t.Fatalf("restored %s, want %s", v.Chunks[0].ID.Short(), old.Short())
	}
	if in, _ := b.Store.Stat(old); in.State != chunks.Complete || !in.Custody {
		t.Errorf("restored content on b: %+v; want complete and kept", in)
	}
}
