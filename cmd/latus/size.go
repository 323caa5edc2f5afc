package main

import (
	"fmt"
	"strconv"
	"strings"
)

// parseSize reads sizes like "64MiB", "10G", "1GiB", "512k" or "1048576".
// K, M, G and T are binary multiples with or without "iB"/"B".
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	up := strings.ToUpper(t)
	up = strings.TrimSuffix(up, "IB")
	up = strings.TrimSuffix(up, "B")
	mult := int64(1)
	if n := len(up); n > 0 {
		switch up[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			up = up[:n-1]
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(up), 64)
	if err != nil || v < 0 || up == "" {
		return 0, fmt.Errorf("invalid size %q: write it like 64MiB, 10G or 1GiB", s)
	}
	return int64(v * float64(mult)), nil
}
