package engine

import (
	"errors"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/uberan/latus/chunks"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// eventually polls cond: the engines work in the background and have no
// event a test could wait on without reaching into them.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func refsOf(t *testing.T, d *TestDevice, path string) []chunks.ID {
	t.Helper()
	v, err := d.Meta.Lookup(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []chunks.ID
	for _, r := range v.Chunks {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestReplicasReachOtherDevices(t *testing.T) {
	tests := []struct {
		name     string
		devices  []string
		replicas int
		want     int // keepers of each chunk
	}{
		{"two of two", []string{"a", "b"}, 2, 2},
		{"two of three", []string{"a", "b", "c"}, 2, 2},
		{"three of three", []string{"a", "b", "c"}, 3, 3},
		{"three wanted, two devices", []string{"a", "b"}, 3, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewTestCluster(t, 0, tc.replicas, tc.devices...)
			a := c.Devs["a"]
			if err := a.Write("f", chunks.RandomBytes(1, 3<<20)); err != nil {
				t.Fatal(err)
			}
			ids := refsOf(t, a, "f")
			eventually(t, fmt.Sprintf("every chunk is kept by %d devices", tc.want), func() bool {
				for _, id := range ids {
					if len(c.Keepers(id)) != tc.want {
						return false
					}
				}
				return true
			})
			v, _ := a.Meta.Lookup("f")
			eventually(t, "a counts the copies", func() bool { return a.Engine.Copies(v) == tc.want })
			if tc.want >= tc.replicas {
				eventually(t, "nothing waits", func() bool { return a.Engine.Stats().Waiting == 0 })
			}
		})
	}
}

// A device that comes back online gets the copies it missed.
func TestReplicationResumesWhenADeviceReturns(t *testing.T) {
	c := NewTestCluster(t, 0, 2, "a", "b")
	c.SetUp("b", false)
	a := c.Devs["a"]
	if err := a.Write("f", chunks.RandomBytes(2, 1<<20)); err != nil {
		t.Fatal(err)
	}
	ids := refsOf(t, a, "f")
	if st := a.Engine.Stats(); st.Waiting != len(ids) {
		t.Fatalf("waiting %d, want %d", st.Waiting, len(ids))
	}
	c.SetUp("b", true)
	eventually(t, "b keeps a's chunks", func() bool {
		for _, id := range ids {
			if !slices.Contains(c.Keepers(id), "b") {
				return false
			}
		}
		return true
	})
}

// A device that claims to keep chunks without holding them is never
// counted as a keeper, so nothing is released to it.
func TestALyingDeviceIsNotTrusted(t *testing.T) {
	c := NewTestCluster(t, 0, 2, "a", "liar")
	c.SetLiar("liar", true)
	a := c.Devs["a"]
	if err := a.Write("f", chunks.RandomBytes(3, 1<<20)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the lie is caught", func() bool { return a.Engine.Stats().BadProofs > 0 })
	for _, id := range refsOf(t, a, "f") {
		in, _ := a.Store.Stat(id)
		if !in.Custody || len(in.Holders) != 0 {
			t.Errorf("chunk %s after a lying answer: %+v", id.Short(), in)
		}
	}
	a.Engine.HandOff(1 << 30)
	if st := a.Engine.Stats(); st.Released != 0 {
		t.Errorf("released %d chunks with no real keeper", st.Released)
	}
}

// The scenario that lost data before custody: two devices with small
// caches, one writing and the other reading, more data than either cache
// holds. Every write that returned is readable afterwards from a device
// that keeps it.
func TestSmallCachesLoseNothing(t *testing.T) {
	const capacity = 12 << 20
	c := NewTestCluster(t, capacity, 2, "a", "b")
	a, b := c.Devs["a"], c.Devs["b"]
	var written []string
	for i := range 8 {
		p := fmt.Sprintf("f%d", i)
		err := a.Write(p, chunks.RandomBytes(uint64(100+i), 2<<20))
		if errors.Is(err, syscall.ENOSPC) {
			t.Logf("%s: %v (allowed: nothing lost)", p, err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		written = append(written, p)
		for _, id := range refsOf(t, a, p) {
			if _, err := b.Fetcher.Get(t.Context(), id); err != nil && !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("b reads %s: %v", p, err)
			}
		}
	}
	if st := a.Engine.Stats(); st.Released == 0 {
		t.Errorf("a never handed chunks over under pressure: %+v", st)
	}
	if len(written) < 5 {
		t.Errorf("only %d of 8 writes fit in two %d-byte caches", len(written), capacity)
	}
	for _, p := range written {
		for _, id := range refsOf(t, a, p) {
			if len(c.Keepers(id)) == 0 {
				t.Errorf("%s: chunk %s is kept by no device", p, id.Short())
			}
		}
	}
}

// A keep_all device keeps every chunk of what it merges, whoever wrote it
// and whether or not anyone asked it to.
func TestKeepAllKeepsEverything(t *testing.T) {
	c := NewTestClusterWith(t, 0, 1, []string{"nas"}, "a", "nas")
	a := c.Devs["a"]
	if err := a.Write("f", chunks.RandomBytes(50, 2<<20)); err != nil {
		t.Fatal(err)
	}
	c.Sync("nas", "a")
	ids := refsOf(t, a, "f")
	eventually(t, "the NAS keeps every chunk", func() bool {
		for _, id := range ids {
			if !slices.Contains(c.Keepers(id), "nas") {
				return false
			}
		}
		return true
	})
}
