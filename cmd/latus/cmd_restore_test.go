package main

import (
	"testing"
	"time"
)

func TestParseMoment(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	tests := []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "2026-03-01T14:30:00Z", want: time.Date(2026, 3, 1, 14, 30, 0, 0, time.UTC)},
		{in: "2026-03-01T14:30:00+02:00", want: time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)},
		{in: "2026-03-01T14:30", want: time.Date(2026, 3, 1, 14, 30, 0, 0, loc)},
		{in: "2026-03-01 14:30:05", want: time.Date(2026, 3, 1, 14, 30, 5, 0, loc)},
		{in: "2026-03-01", want: time.Date(2026, 3, 2, 0, 0, 0, 0, loc).Add(-time.Nanosecond)},
		{in: "yesterday", bad: true},
		{in: "", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseMoment(tc.in, loc)
			if tc.bad {
				if err == nil {
					t.Fatalf("parseMoment(%q) = %v, want an error", tc.in, got)
				}
				return
			}
			if err != nil || !got.Equal(tc.want) {
				t.Fatalf("parseMoment(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}
