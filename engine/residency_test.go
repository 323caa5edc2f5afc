package engine

import (
	"bytes"
	"testing"
	"time"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

func TestResidency(t *testing.T) {
	c := NewTestCluster(t, 0, 1, "a")
	a := c.Devs["a"]
	stored, _, _, err := a.Store.PutStream(bytes.NewReader(chunks.RandomBytes(1, 300_000)))
	if err != nil {
		t.Fatal(err)
	}
	missing := meta.FileContent(chunks.RandomBytes(2, 300_000), time.Time{}).Chunks
	tests := []struct {
		name string
		refs []chunks.Ref
		want Residency
	}{
		{"empty file", nil, Local},
		{"all stored", stored, Local},
		{"none stored", missing, Remote},
		{"some stored", append(append([]chunks.Ref{}, stored...), missing...), Partial},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := a.Engine.Residency(meta.FileVersion{Chunks: tc.refs})
			if err != nil || got != tc.want {
				t.Fatalf("Residency = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestUnreplicated counts files fewer devices keep than wanted: each
// write shows in a count soon after (the count is kept between calls but
// not across a change), and the count falls to zero once the other
// device proves it keeps them.
func TestUnreplicated(t *testing.T) {
	c := NewTestCluster(t, 0, 2, "a", "b")
	a := c.Devs["a"]
	c.SetLiar("b", true) // answers keep requests with bad proofs: nothing replicates
	for i, name := range []string{"f1", "f2", "f3"} {
		// Over meta.InlineMax: a chunk to replicate.
		if err := a.Write(name, chunks.RandomBytes(uint64(10+i), 4096)); err != nil {
			t.Fatal(err)
		}
		// A replication round in flight may end after the write and
		// count before it; the write shows in a count soon after.
		eventually(t, "the new file counted", func() bool {
			n, err := a.Engine.Unreplicated()
			return err == nil && n == i+1
		})
		if n, err := a.Engine.Unreplicated(); err != nil || n != i+1 { // from the kept count
			t.Fatalf("after writing %s: Unreplicated = %d, %v; want %d", name, n, err, i+1)
		}
	}
	c.SetLiar("b", false)
	c.SetUp("b", true) // a proves b's holdings again and replicates
	eventually(t, "every file has its two copies", func() bool {
		n, err := a.Engine.Unreplicated()
		return err == nil && n == 0
	})
}
