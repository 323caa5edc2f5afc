package chunks

import (
	"context"
	"testing"
)

// equalRefs returns n refs of size bytes each, contiguous from 0 (the IDs
// do not matter to the window).
func equalRefs(n int, size int64) []Ref {
	refs := make([]Ref, n)
	for i := range refs {
		refs[i] = Ref{Offset: int64(i) * size, Size: size}
	}
	return refs
}

func TestReadAheadWindow(t *testing.T) {
	const mib = 1 << 20
	type read struct {
		off, n   int64
		from, to int // chunks to fetch now; from == to: none
		reset    bool
	}
	tests := []struct {
		name   string
		chunks int
		limit  int64
		reads  []read
	}{
		{"first read at 0 opens two chunks", 10, 64 * mib, []read{
			{0, 128 << 10, 1, 3, false},
		}},
		{"reads inside one chunk ask nothing more", 10, 64 * mib, []read{
			{0, 128 << 10, 1, 3, false},
			{128 << 10, 128 << 10, 3, 3, false},
			{256 << 10, 128 << 10, 3, 3, false},
		}},
		{"entering each later chunk doubles the window", 20, 64 * mib, []read{
			{0, mib, 1, 3, false},
			{mib, 128 << 10, 3, 6, false},       // in chunk 1: 4 after it, 2..5
			{2 * mib, 128 << 10, 6, 11, false},  // in chunk 2: 8 after it, 3..10
			{3 * mib, 128 << 10, 11, 20, false}, // 16 after it, cut at the end of the file
		}},
		{"the byte cap holds the window", 20, 2*mib + mib/2, []read{
			{0, mib, 1, 3, false},
			{mib, mib, 3, 4, false}, // 4 wanted, 2 fit: chunks 2 and 3
			{2 * mib, mib, 4, 5, false},
		}},
		{"one chunk ahead even under a cap smaller than a chunk", 10, mib / 2, []read{
			{0, 4096, 1, 2, false},
		}},
		{"a read far away closes the window and abandons", 10, 64 * mib, []read{
			{0, 128 << 10, 1, 3, false},
			{8 * mib, 128 << 10, 0, 0, true},
			{8*mib + 128<<10, 128 << 10, 9, 10, false}, // continuing there opens a new one
		}},
		{"random reads fetch nothing ahead", 10, 64 * mib, []read{
			{5 * mib, 4096, 0, 0, false},
			{mib, 4096, 0, 0, false},
			{9 * mib, 4096, 0, 0, false},
		}},
		{"a first read elsewhere opens on the next read after it", 10, 64 * mib, []read{
			{5 * mib, 4096, 0, 0, false},
			{5*mib + 4096, 4096, 6, 8, false},
		}},
		{"out-of-order reads within slack stay sequential", 10, 64 * mib, []read{
			{0, mib, 1, 3, false},
			{2 * mib, mib, 3, 7, false}, // in chunk 2: 4 after it, 3..6
			{mib, mib, 7, 7, false},     // behind: nothing new, no reset
		}},
		{"nothing beyond the last chunk", 3, 64 * mib, []read{
			{0, mib, 1, 3, false},
			{mib, mib, 3, 3, false},
			{2 * mib, mib, 3, 3, false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			refs := equalRefs(tc.chunks, mib)
			w := window{slack: 2 * mib}
			for i, r := range tc.reads {
				from, to, reset := w.observe(refs, r.off, r.off+r.n, tc.limit)
				empty, wantEmpty := from == to, r.from == r.to // where an empty range starts does not matter
				if empty != wantEmpty || !empty && (from != r.from || to != r.to) || reset != r.reset {
					t.Fatalf("read %d [%d, +%d): fetch [%d, %d) reset %v, want [%d, %d) reset %v (window %+v)",
						i, r.off, r.n, from, to, reset, r.from, r.to, r.reset, w)
				}
			}
		})
	}
}

// readAheadFile puts n chunks of size bytes on a source and returns them
// as the refs of one file.
func readAheadFile(src *MemSource, n, size int) []Ref {
	refs := make([]Ref, n)
	for i := range refs {
		refs[i] = Ref{ID: src.Add(RandomBytes(uint64(500+i), size)), Offset: int64(i * size), Size: int64(size)}
	}
	return refs
}

// readAheadFixture returns a source holding a file of 12 chunks of size
// bytes, the file's refs, a store, a fetcher over the source and a
// read-ahead of the file that counts reads within one chunk of the
// furthest as sequential.
func readAheadFixture(t *testing.T, size int) (*MemSource, []Ref, *Store, *Fetcher, *ReadAhead) {
	t.Helper()
	src := NewMemSource("peer")
	refs := readAheadFile(src, 12, size)
	s := TestStore(t)
	f := TestFetcher(t, s, src)
	r := f.ReadAhead(refs)
	r.win.slack = int64(size)
	t.Cleanup(r.Close)
	return src, refs, s, f, r
}

func TestReadAheadFetches(t *testing.T) {
	const size = 64 << 10
	ctx := context.Background()
	t.Run("sequential reads fetch ahead", func(t *testing.T) {
		src, refs, s, f, r := readAheadFixture(t, size)
		for off := int64(0); off < 2*size; off += 16 << 10 {
			r.Read(off, 16<<10)
			if _, err := f.Get(ctx, refs[off/size].ID); err != nil {
				t.Fatal(err)
			}
		}
		// The reader entered chunk 1: the window is 4 chunks after it.
		for i := 2; i <= 5; i++ {
			waitFor(t, "chunk fetched ahead", func() bool { st, _ := s.Status(refs[i].ID); return st == Complete })
		}
		f.Close() // every fetch ahead has ended: the counts are final
		for i, ref := range refs {
			want := 0
			if i <= 5 {
				want = 1
			}
			if got := src.CallsFor(ref.ID); got != want {
				t.Errorf("chunk %d fetched %d times, want %d", i, got, want)
			}
		}
	})
	t.Run("random reads fetch only what they read", func(t *testing.T) {
		src, refs, _, f, r := readAheadFixture(t, size)
		for _, i := range []int{7, 2, 10, 5} {
			r.Read(int64(i*size+100), 4096)
			if _, err := f.Get(ctx, refs[i].ID); err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
		if got := src.Calls(); got != 4 {
			t.Errorf("random reads of 4 chunks made %d fetches, want 4", got)
		}
	})
	t.Run("close abandons the fetches ahead", func(t *testing.T) {
		src, refs, s, f, r := readAheadFixture(t, size)
		release := src.Hold()
		defer release()
		r.Read(0, 4096)
		waitFor(t, "fetches ahead asked", func() bool { return src.CallsFor(refs[1].ID) == 1 && src.CallsFor(refs[2].ID) == 1 })
		r.Close()
		for _, i := range []int{1, 2} {
			waitFor(t, "fetch ahead abandoned", func() bool { st, _ := s.Status(refs[i].ID); return st == Missing })
		}
		r.Read(size, 4096) // a closed read-ahead asks nothing
		f.Close()
		if got := src.Calls(); got != 2 {
			t.Errorf("%d fetches, want the 2 asked before Close", got)
		}
	})
	t.Run("nothing to read ahead in one chunk", func(t *testing.T) {
		src := NewMemSource("peer")
		f := TestFetcher(t, TestStore(t), src)
		r := f.ReadAhead(readAheadFile(src, 1, size))
		if r != nil {
			t.Fatalf("ReadAhead of a one-chunk file = %v, want nil", r)
		}
		r.Read(0, 4096) // nil-safe
		r.Close()
	})
}
