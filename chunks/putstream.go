package chunks

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/zeebo/blake3"
)

// putWorkers is how many chunks PutStream hashes and stores at once.
// Storing is bound by fsync latency: overlapping a few chunk files and
// sharing index transactions (bbolt Batch) multiplies throughput.
const putWorkers = 4

// chunkBufs holds copies of chunks on their way to the put workers. It is
// shared by all calls: a pool per call allocated 4 MiB per small file.
var chunkBufs = sync.Pool{New: func() any { b := make([]byte, 0, MaxChunk); return &b }}

// putJob is one chunk of a PutStream: its copy is used by a put worker
// (which also hashes it for its ID) and by the whole-content hasher, and
// goes back to chunkBufs when both are done.
type putJob struct {
	ref  Ref // ID set by the worker
	data *[]byte
	uses atomic.Int32
}

func (j *putJob) done() {
	if j.uses.Add(-1) == 0 {
		chunkBufs.Put(j.data)
		j.data = nil
	}
}

// PutStream splits r into chunks, Puts each, and returns their refs, the
// BLAKE3 of the whole content and its size. Every chunk is durable and
// indexed when it returns. On error, chunks already put stay in the store
// (unreferenced chunks are collected with Remove).
//
// The goroutine reading r only cuts and copies; chunk IDs are hashed on
// the workers and the whole content on a goroutine of its own, so the three
// BLAKE3 and FastCDC passes use every core rather than one.
func (s *Store) PutStream(r io.Reader) (refs []Ref, hash ID, size int64, err error) {
	var (
		work    = make(chan *putJob)
		whole   = make(chan *putJob, 2)
		failed  = make(chan struct{}) // closed at the first error
		errOnce sync.Once
		putErr  error
		wg      sync.WaitGroup
		jobs    []*putJob
		h       = blake3.New()
		hashed  = make(chan struct{})
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
			for j := range work {
				j.ref.ID = Sum(*j.data)
				if err := s.withRoom(j.ref.Size, func() error { return s.put(j.ref.ID, *j.data, true) }); err != nil {
					fail(fmt.Errorf("put chunk at offset %d: %w", j.ref.Offset, err))
				}
				j.done()
			}
		}()
	}
	go func() {
		defer close(hashed)
		for j := range whole {
			h.Write(*j.data)
			j.done()
		}
	}()
	err = cut(r, func(off int64, data []byte) error {
		buf := chunkBufs.Get().(*[]byte)
		*buf = append((*buf)[:0], data...) // data is valid only during this call
		j := &putJob{ref: Ref{Offset: off, Size: int64(len(data))}, data: buf}
		j.uses.Store(2)
		whole <- j
		select {
		case work <- j:
		case <-failed:
			j.done()
			return putErr
		}
		jobs = append(jobs, j)
		size = off + int64(len(data))
		return nil
	})
	close(work)
	close(whole)
	wg.Wait()
	<-hashed
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
	refs = make([]Ref, len(jobs))
	for i, j := range jobs {
		refs[i] = j.ref
	}
	copy(hash[:], h.Sum(nil))
	return refs, hash, size, nil
}
