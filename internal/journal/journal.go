// Package journal is a small append-only log of records written with
// write(2) and never synced: what a store has promised but not yet made
// durable in its own file. A record written survives the death of the
// process (the kernel's page cache holds it) but not of the machine; the
// store replays the records at its next start and drops them once its
// own file holds them durably.
//
// The log is a series of segment files <prefix>.<n>. Seal ends the
// current segment so that records appended while the store makes the
// sealed ones durable land in the next; Drop removes sealed segments.
// Each record is framed with its length and a CRC-32C, so a torn tail
// (a machine that died mid-write) ends the replay of its segment instead
// of being misread.
package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// MaxRecord bounds one record; a longer frame is torn or corrupt.
const MaxRecord = 1 << 30

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Journal appends records to the current segment. Its methods are safe for
// concurrent use.
type Journal struct {
	prefix string

	mu     sync.Mutex // guards the fields below
	seg    uint64     // the segment appends go to
	oldest uint64     // the lowest segment that may exist
	f      *os.File   // open on seg; nil until the first append to it
	buf    []byte
}

// Open opens the journal whose segments are named prefix.<n> and returns
// it with the payloads of the records every existing segment holds, in
// order. New records go to a segment after them; call Drop(last) once
// the replayed records are durable elsewhere.
func Open(prefix string) (j *Journal, records [][]byte, last uint64, err error) {
	segs, err := segments(prefix)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("open journal %s: %w", prefix, err)
	}
	for _, n := range segs {
		recs, err := readSegment(segName(prefix, n))
		if err != nil {
			return nil, nil, 0, fmt.Errorf("open journal %s: %w", prefix, err)
		}
		records = append(records, recs...)
		last = n
	}
	j = &Journal{prefix: prefix, seg: last + 1, oldest: last + 1}
	if len(segs) > 0 {
		j.oldest = segs[0]
	}
	return j, records, last, nil
}

func segName(prefix string, n uint64) string { return prefix + "." + strconv.FormatUint(n, 10) }

// segments lists the segment numbers present, ascending.
func segments(prefix string) ([]uint64, error) {
	dir, base := filepath.Split(prefix)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), base+".")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(rest, 10, 64); err == nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// readSegment returns the payloads of the whole records of one segment;
// reading stops at the first frame that is short or fails its CRC.
func readSegment(name string) ([][]byte, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for len(b) >= 8 {
		n := binary.LittleEndian.Uint32(b)
		sum := binary.LittleEndian.Uint32(b[4:])
		if n > MaxRecord || uint64(len(b)-8) < uint64(n) {
			break
		}
		p := b[8 : 8+n]
		if crc32.Checksum(p, castagnoli) != sum {
			break
		}
		out = append(out, p)
		b = b[8+n:]
	}
	return out, nil
}

// Append writes one record with a single write(2). It returns once the
// kernel has the bytes; nothing is synced.
func (j *Journal) Append(payload []byte) error {
	if len(payload) > MaxRecord {
		return fmt.Errorf("journal %s: record of %d bytes is over %d", j.prefix, len(payload), MaxRecord)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		f, err := os.OpenFile(segName(j.prefix, j.seg), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		j.f = f
	}
	j.buf = binary.LittleEndian.AppendUint32(j.buf[:0], uint32(len(payload)))
	j.buf = binary.LittleEndian.AppendUint32(j.buf, crc32.Checksum(payload, castagnoli))
	j.buf = append(j.buf, payload...)
	if _, err := j.f.Write(j.buf); err != nil {
		return fmt.Errorf("journal %s: %w", j.f.Name(), err)
	}
	return nil
}

// Seal ends the current segment and returns its number: records appended
// from now on go to the next one.
func (j *Journal) Seal() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := j.seg
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
	j.seg++
	return n
}

// Drop removes every segment up to and including n: their records are
// durable in the store's own file.
func (j *Journal) Drop(n uint64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	var errs []error
	for ; j.oldest <= n && j.oldest < j.seg; j.oldest++ {
		if err := os.Remove(segName(j.prefix, j.oldest)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("drop journal %s: %w", j.prefix, err)
	}
	return nil
}

// Close closes the current segment; the journal is not used after.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("close journal %s: %w", j.prefix, err)
	}
	return nil
}
