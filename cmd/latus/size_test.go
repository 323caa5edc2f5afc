package main

import "testing"

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"64MiB", 64 << 20, false},
		{"10G", 10 << 30, false},
		{"1GiB", 1 << 30, false},
		{"512k", 512 << 10, false},
		{"1.5G", 3 << 29, false},
		{"1048576", 1 << 20, false},
		{"2TB", 2 << 40, false},
		{"", 0, true},
		{"MiB", 0, true},
		{"-1G", 0, true},
		{"lots", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSize(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("parseSize(%q) = %d, %v; want %d, err %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}
