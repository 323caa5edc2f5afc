package fusefs

import (
	"reflect"
	"testing"

	"github.com/uberan/latus/chunks"
)

func TestExplodeRange(t *testing.T) {
	refs := []chunks.Ref{{Offset: 0, Size: 10}, {Offset: 10, Size: 5}, {Offset: 15, Size: 20}}
	refs[0].ID[0], refs[1].ID[0], refs[2].ID[0] = 1, 2, 3
	tests := []struct {
		name   string
		off, n int64
		want   []span
	}{
		{"inside first", 2, 3, []span{{refs[0], 2, 5}}},
		{"whole first", 0, 10, []span{{refs[0], 0, 10}}},
		{"across two", 8, 4, []span{{refs[0], 8, 10}, {refs[1], 0, 2}}},
		{"across three", 9, 8, []span{{refs[0], 9, 10}, {refs[1], 0, 5}, {refs[2], 0, 2}}},
		{"starts on a boundary", 10, 5, []span{{refs[1], 0, 5}}},
		{"clipped at end", 30, 100, []span{{refs[2], 15, 20}}},
		{"at end", 35, 10, nil},
		{"past end", 50, 10, nil},
		{"empty read", 3, 0, nil},
		{"negative offset", -1, 5, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := explodeRange(refs, tc.off, tc.n)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("explodeRange(%d, %d) = %v, want %v", tc.off, tc.n, got, tc.want)
			}
		})
	}
	if got := explodeRange(nil, 0, 10); got != nil {
		t.Fatalf("empty file: %v", got)
	}
}
