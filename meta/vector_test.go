package meta

import "testing"

func TestVectorCompare(t *testing.T) {
	tests := []struct {
		name string
		a, b Vector
		want Ordering
	}{
		{"both empty", nil, Vector{}, Equal},
		{"equal", Vector{"a": 1, "b": 2}, Vector{"b": 2, "a": 1}, Equal},
		{"zero counts as missing", Vector{"a": 1, "b": 0}, Vector{"a": 1}, Equal},
		{"after by one device", Vector{"a": 2}, Vector{"a": 1}, After},
		{"after with extra device", Vector{"a": 1, "b": 1}, Vector{"a": 1}, After},
		{"before", Vector{"a": 1}, Vector{"a": 1, "b": 3}, Before},
		{"before from empty", nil, Vector{"a": 1}, Before},
		{"concurrent", Vector{"a": 2, "b": 1}, Vector{"a": 1, "b": 2}, Concurrent},
		{"concurrent disjoint", Vector{"a": 1}, Vector{"b": 1}, Concurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.Compare(tc.b); got != tc.want {
				t.Errorf("%v.Compare(%v) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
			mirror := map[Ordering]Ordering{Equal: Equal, Before: After, After: Before, Concurrent: Concurrent}
			if got := tc.b.Compare(tc.a); got != mirror[tc.want] {
				t.Errorf("%v.Compare(%v) = %v, want %v", tc.b, tc.a, got, mirror[tc.want])
			}
		})
	}
}

func TestVectorUpdateMerge(t *testing.T) {
	a := Vector{"a": 1, "b": 5}
	u := a.Update("a", 7)
	if a["a"] != 1 {
		t.Fatalf("Update changed its receiver: %v", a)
	}
	if u.String() != "{a:7 b:5}" {
		t.Fatalf("Update = %v", u)
	}
	if u.Compare(a) != After {
		t.Fatalf("updated vector is not after the original")
	}
	var empty Vector
	if got := empty.Update("x", 3); got.String() != "{x:3}" {
		t.Fatalf("nil.Update = %v", got)
	}

	tests := []struct {
		name    string
		a, b    Vector
		want    string
		ordA    Ordering // merged vs a
		ordBoth Ordering // merged vs b
	}{
		{"concurrent", Vector{"a": 2, "b": 1}, Vector{"a": 1, "b": 3}, "{a:2 b:3}", After, After},
		{"one dominates", Vector{"a": 2}, Vector{"a": 1}, "{a:2}", Equal, After},
		{"disjoint", Vector{"a": 1}, Vector{"c": 4}, "{a:1 c:4}", After, After},
		{"with nil", nil, Vector{"a": 1}, "{a:1}", After, Equal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.a.String()
			m := tc.a.Merge(tc.b)
			if m.String() != tc.want {
				t.Errorf("Merge = %v, want %s", m, tc.want)
			}
			if tc.a.String() != before {
				t.Errorf("Merge changed its receiver")
			}
			if got := m.Compare(tc.a); got != tc.ordA {
				t.Errorf("merged vs a = %v, want %v", got, tc.ordA)
			}
			if got := m.Compare(tc.b); got != tc.ordBoth {
				t.Errorf("merged vs b = %v, want %v", got, tc.ordBoth)
			}
			if tc.b.Merge(tc.a).String() != tc.want {
				t.Errorf("Merge is not commutative")
			}
		})
	}
}
