package meta

import (
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Vector is a version vector: device id → the highest sequence number of
// that device this version has seen for its path. A missing device counts
// as 0. Vectors are values: every method returns a new Vector and leaves
// its receiver unchanged.
type Vector map[string]uint64

// Ordering is the result of comparing two vectors.
type Ordering int

const (
	// Equal: both vectors have seen exactly the same versions.
	Equal Ordering = iota
	// Before: the receiver is older; the other vector has seen all it has, and more.
	Before
	// After: the receiver is newer; it has seen all the other has, and more.
	After
	// Concurrent: each has seen a version the other has not.
	Concurrent
)

func (o Ordering) String() string {
	switch o {
	case Equal:
		return "equal"
	case Before:
		return "before"
	case After:
		return "after"
	case Concurrent:
		return "concurrent"
	}
	return "Ordering(" + strconv.Itoa(int(o)) + ")"
}

// Update returns a copy of v with device's counter set to seq.
func (v Vector) Update(device string, seq uint64) Vector {
	out := make(Vector, len(v)+1)
	maps.Copy(out, v)
	out[device] = seq
	return out
}

// Merge returns the element-wise maximum of v and o: a vector that has seen
// everything either has seen.
func (v Vector) Merge(o Vector) Vector {
	out := make(Vector, max(len(v), len(o)))
	maps.Copy(out, v)
	for d, c := range o {
		if c > out[d] {
			out[d] = c
		}
	}
	return out
}

// Compare orders v against o.
func (v Vector) Compare(o Vector) Ordering {
	less, greater := false, false
	for d, c := range v {
		switch oc := o[d]; {
		case c > oc:
			greater = true
		case c < oc:
			less = true
		}
	}
	for d, oc := range o {
		if _, ok := v[d]; !ok && oc > 0 {
			less = true
		}
	}
	switch {
	case less && greater:
		return Concurrent
	case less:
		return Before
	case greater:
		return After
	}
	return Equal
}

// String renders v sorted by device, e.g. "{a:3 b:1}", for logs and tests.
func (v Vector) String() string {
	keys := slices.Sorted(maps.Keys(v))
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte(':')
		b.WriteString(strconv.FormatUint(v[k], 10))
	}
	b.WriteByte('}')
	return b.String()
}
