package peers

import (
	"sync"
	"time"
)

// meterWindow is the span of a meter's two buckets: its rate covers the
// last one to two windows.
const meterWindow = 5 * time.Second

// meter counts the bytes received from one device and their recent rate,
// for latus status.
type meter struct {
	mu         sync.Mutex // guards the fields below
	total      int64
	start      time.Time // of the current bucket
	cur, prev  int64
	havePrev   bool
	nowForTest func() time.Time
}

func (m *meter) now() time.Time {
	if m.nowForTest != nil {
		return m.nowForTest()
	}
	return time.Now()
}

// rollLocked moves to the bucket holding now.
func (m *meter) rollLocked(now time.Time) {
	switch {
	case m.start.IsZero():
		m.start = now
	case now.Sub(m.start) >= 2*meterWindow:
		m.prev, m.cur, m.havePrev = 0, 0, true
		m.start = now
	case now.Sub(m.start) >= meterWindow:
		m.prev, m.cur, m.havePrev = m.cur, 0, true
		m.start = m.start.Add(meterWindow)
	}
}

func (m *meter) add(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rollLocked(m.now())
	m.total += int64(n)
	m.cur += int64(n)
}

// read returns the bytes received in all and per second lately.
func (m *meter) read() (total int64, perSecond float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.rollLocked(now)
	span := now.Sub(m.start)
	bytes := m.cur
	if m.havePrev {
		span += meterWindow
		bytes += m.prev
	}
	if span < time.Second {
		span = time.Second // a burst in the first instant is not a rate
	}
	return m.total, float64(bytes) / span.Seconds()
}
