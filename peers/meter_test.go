package peers

import (
	"testing"
	"time"
)

func TestMeter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type step struct {
		at    time.Duration // since t0
		add   int
		total int64
		rate  float64 // bytes/s read after the add
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"idle", []step{{0, 0, 0, 0}}},
		{"first second is not a rate spike", []step{{0, 1000, 1000, 1000}}},
		{"steady", []step{{0, 0, 0, 0}, {2 * time.Second, 2000, 2000, 1000}, {4 * time.Second, 2000, 4000, 1000}}},
		{"spans the previous window", []step{{0, 5000, 5000, 5000}, {6 * time.Second, 1000, 6000, 6000.0 / 6}}},
		{"forgets after two windows", []step{{0, 5000, 5000, 5000}, {11 * time.Second, 0, 5000, 0}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var now time.Time
			m := meter{nowForTest: func() time.Time { return now }}
			for i, s := range tc.steps {
				now = t0.Add(s.at)
				if s.add > 0 {
					m.add(s.add)
				} else if i == 0 {
					m.read() // starts the clock
				}
				total, rate := m.read()
				if total != s.total || rate < s.rate-0.01 || rate > s.rate+0.01 {
					t.Fatalf("step %d: total %d rate %.2f, want %d %.2f", i, total, rate, s.total, s.rate)
				}
			}
		})
	}
}
