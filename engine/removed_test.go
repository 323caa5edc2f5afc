package engine

import (
	"slices"
	"testing"

	"github.com/uberan/latus/chunks"
)

// TestRemovedDeviceKeepsNothing: once b is removed, what it kept for a is
// no longer counted, and replication places it on c.
func TestRemovedDeviceKeepsNothing(t *testing.T) {
	c := NewTestCluster(t, 0, 2, "a", "b", "c")
	a := c.Devs["a"]
	if err := a.Write("f", chunks.RandomBytes(4, 2<<20)); err != nil {
		t.Fatal(err)
	}
	ids := refsOf(t, a, "f")
	eventually(t, "a counts b as keeping its chunks", func() bool {
		for _, id := range ids {
			if hs, _ := a.Store.Holders(id); !slices.Equal(hs, []string{"b"}) {
				return false
			}
		}
		return true
	})
	v, _ := a.Meta.Lookup("f")
	a.Engine.DeviceRemoved("b")
	if n := a.Engine.Copies(v); n != 1 {
		t.Fatalf("copies right after b's removal: %d, want 1 (a alone)", n)
	}
	eventually(t, "a counts c as keeping its chunks", func() bool {
		for _, id := range ids {
			if hs, _ := a.Store.Holders(id); !slices.Equal(hs, []string{"c"}) {
				return false
			}
		}
		return true
	})
	eventually(t, "a counts a and c", func() bool { return a.Engine.Copies(v) == 2 })
	if held := a.Store.HeldBy(); held["b"] != 0 || held["c"] != len(ids) {
		t.Fatalf("HeldBy: %v", held)
	}
}

// TestRemovedWriterIsNoKeeper: the writer of a version counts as keeping
// it until it hands it over, unless it was removed.
func TestRemovedWriterIsNoKeeper(t *testing.T) {
	c := NewTestCluster(t, 0, 1, "a", "b")
	b := c.Devs["b"]
	if err := b.Write("f", chunks.RandomBytes(5, 1<<20)); err != nil {
		t.Fatal(err)
	}
	c.Sync("a", "b")
	a := c.Devs["a"]
	v, err := a.Meta.Lookup("f")
	if err != nil {
		t.Fatal(err)
	}
	if n := a.Engine.Copies(v); n != 1 {
		t.Fatalf("copies before the removal: %d, want 1 (the writer)", n)
	}
	a.Engine.DeviceRemoved("b")
	if n := a.Engine.Copies(v); n != 0 {
		t.Fatalf("copies after the writer was removed: %d, want 0", n)
	}
}
