package chunks

import (
	"fmt"
	"io"
	"sync"

	"github.com/zeebo/blake3"
)

// putWorkers is how many chunks PutStream stores at once. Storing is
// bound by fsync latency, not CPU: overlapping a few chunk files and
// sharing index transactions (bbolt Batch) multiplies throughput.
const putWorkers = 4

// chunkBufs holds copies of chunks on their way to the put workers. It is
// shared by all calls: a pool per call allocated 4 MiB per small file.
var chunkBufs = sync.Pool{New: func() any { b := make([]byte, 0, MaxChunk); return &b }}

// PutStream splits r into chunks, Puts each, and returns their refs, the
// BLAKE3 of the whole content and its size. Every chunk is durable and
// indexed when it returns. On error, chunks already put stay in the store
// (unreferenced chunks are collected with Remove).
func (s *Store) PutStream(r io.Reader) (refs []Ref, hash ID, size int64, err error) {
	type job struct {
		ref  Ref
		data *[]byte
	}
	var (
		jobs    = make(chan job)
		failed  = make(chan struct{}) // closed at the first error
		errOnce sync.Once
		putErr  error
		wg      sync.WaitGroup
		bufs    = &chunkBufs
	)
	fail := func(err error) {
		errOnce.Do(func() {
			putErr = err
			close(failed)
		})
	}
	for range putWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := s.withRoom(j.ref.Size, func() error { return s.put(j.ref.ID, *j.data, true) }); err != nil {
					fail(fmt.Errorf("put chunk at offset %d: %w", j.ref.Offset, err))
				}
				bufs.Put(j.data)
			}
		}()
	}
	h := blake3.New()
	err = Split(r, func(ref Ref, data []byte) error {
		h.Write(data)
		buf := bufs.Get().(*[]byte)
		*buf = append((*buf)[:0], data...) // data is valid only during this call
		select {
		case jobs <- job{ref, buf}:
		case <-failed:
			return putErr
		}
		refs = append(refs, ref)
		size = ref.End()
		return nil
	})
	close(jobs)
	wg.Wait()
	if err == nil {
		select {
		case <-failed:
			err = putErr
		default:
		}
	}
	if err != nil {
		return nil, ID{}, 0, err
	}
	copy(hash[:], h.Sum(nil))
	return refs, hash, size, nil
}
