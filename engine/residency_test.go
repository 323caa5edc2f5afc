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
