// Package fsx drives one file of a mounted filesystem with random
// operations and checks every result against an in-memory model, in the
// spirit of fsx (the file system exerciser of BSD and xfstests).
//
// An operation is pread, pwrite, read and write at the file offset,
// ftruncate up and down, an mmap read, an mmap write flushed with msync,
// copy_file_range from a second file or from the file itself, fallocate
// (extend, punch a hole, zero a range), and close and reopen (sometimes
// with O_TRUNC, sometimes with a second descriptor, its own handle, that
// operations use at random). After every operation the size is checked
// with fstat; reads check what they read; every reopen checks the whole
// content. A run is a pure function of its seed: a failure names the seed
// and the last operations, and running the same seed again repeats it.
package fsx

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Options configure a run.
type Options struct {
	Dir     string // a directory in the mount
	Seed    uint64
	Ops     int
	MaxSize int64 // the file never grows past this; 0 = 8 MiB
	// CloseEvery is the mean number of operations between a close and
	// reopen; 0 = 20.
	CloseEvery int
	// Closed, if set, is called after each close with the content the
	// file has then (the store or a second device checks it holds it).
	// onlyTrunc says the only change since the previous close was the
	// open's O_TRUNC, which Latus commits at release rather than at close.
	Closed func(content []byte, onlyTrunc bool) error
	// Remount, if set, is called every RemountEvery operations with the
	// file closed; the run then reopens and checks the whole content.
	Remount      func() error
	RemountEvery int
}

// File names inside Options.Dir.
const (
	Name    = "fsx.bin"
	SrcName = "fsx-src.bin" // copy_file_range source, fixed content
)

// Stats counts what a run did.
type Stats struct {
	Ops, Closes, Remounts int
	ByKind                map[string]int
	Unsupported           map[string]int // operations the filesystem refused with EOPNOTSUPP
}

type run struct {
	o     Options
	rng   *rand.Rand
	model []byte
	src   []byte
	f     *os.File
	other *os.File // sometimes a second descriptor (its own handle) of the file
	srcF  *os.File
	log   []string // the last operations, for the failure report
	// onlyTrunc: since the previous close the content changed only by
	// the open's O_TRUNC.
	onlyTrunc bool
	// noWrites: this open of the file changes it only by ftruncate and
	// fallocate (one in four opens), what a filesystem that commits at
	// close only what was written gets wrong.
	noWrites bool
	op       int
	stats    Stats
}

// Run exercises Options.Dir/Name and returns what it did, or an error
// naming the seed, the failing operation and the ones before it.
func Run(o Options) (Stats, error) {
	if o.MaxSize == 0 {
		o.MaxSize = 8 << 20
	}
	if o.CloseEvery == 0 {
		o.CloseEvery = 20
	}
	r := &run{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x6673780a)), stats: Stats{ByKind: map[string]int{}, Unsupported: map[string]int{}}}
	err := r.run()
	if r.other != nil {
		r.other.Close()
	}
	if r.f != nil {
		r.f.Close()
	}
	if r.srcF != nil {
		r.srcF.Close()
	}
	if err != nil {
		return r.stats, fmt.Errorf("fsx seed %d, operation %d: %w\nlast operations:\n  %s", o.Seed, r.op, err, strings.Join(r.log, "\n  "))
	}
	return r.stats, nil
}

func (r *run) path() string { return filepath.Join(r.o.Dir, Name) }

func (r *run) run() error {
	r.src = r.bytes(int(r.o.MaxSize / 2))
	if err := os.WriteFile(filepath.Join(r.o.Dir, SrcName), r.src, 0o644); err != nil {
		return fmt.Errorf("write copy source: %w", err)
	}
	if err := os.WriteFile(r.path(), nil, 0o644); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if err := r.reopen(false); err != nil {
		return err
	}
	for r.op = 1; r.op <= r.o.Ops; r.op++ {
		if err := r.step(); err != nil {
			return err
		}
		if err := r.checkSize(); err != nil {
			return err
		}
		r.stats.Ops++
	}
	if err := r.close(); err != nil {
		return err
	}
	return r.checkAll("end")
}

// record keeps the operation for the failure report.
func (r *run) record(format string, args ...any) {
	s := fmt.Sprintf("%6d ", r.op) + fmt.Sprintf(format, args...)
	if len(r.log) == 20 {
		r.log = append(r.log[:0], r.log[1:]...)
	}
	r.log = append(r.log, s)
}

func (r *run) bytes(n int) []byte {
	b := make([]byte, n)
	var seed [32]byte
	for i := range 4 {
		v := r.rng.Uint64()
		for j := range 8 {
			seed[i*8+j] = byte(v >> (8 * j))
		}
	}
	rand.NewChaCha8(seed).Read(b)
	return b
}

// span picks an offset and length: mostly small and anywhere, sometimes
// large, sometimes across a likely chunk boundary (256 KiB to 4 MiB).
func (r *run) span(limit int64) (off, n int64) {
	if limit <= 0 {
		return 0, 0
	}
	switch r.rng.IntN(4) {
	case 0:
		n = 1 + r.rng.Int64N(min(limit, 64<<10))
	case 1:
		n = 1 + r.rng.Int64N(min(limit, 1<<20))
	case 2:
		n = 1 + r.rng.Int64N(min(limit, 4096))
	default:
		// Around a multiple of 256 KiB: where a chunk may end.
		b := int64(256<<10) * (1 + r.rng.Int64N(max(limit/(256<<10), 1)))
		off = max(0, b-r.rng.Int64N(8192))
		n = 1 + r.rng.Int64N(16384)
		if off+n > limit {
			off, n = 0, min(n, limit)
		}
		return off, n
	}
	off = r.rng.Int64N(limit - n + 1)
	return off, n
}

func (r *run) size() int64 { return int64(len(r.model)) }

// fd picks the descriptor an operation goes through.
func (r *run) fd() int {
	if r.other != nil && r.rng.IntN(2) == 0 {
		return int(r.other.Fd())
	}
	return int(r.f.Fd())
}

// resize changes the model's size, zero-filling growth.
func (r *run) resize(n int64) {
	if n != r.size() {
		r.onlyTrunc = false
	}
	if n <= r.size() {
		r.model = r.model[:n]
		return
	}
	r.model = append(r.model, make([]byte, n-r.size())...)
}

func (r *run) step() error {
	if r.rng.IntN(r.o.CloseEvery) == 0 {
		if r.o.Remount != nil && r.o.RemountEvery > 0 && r.stats.Closes%r.o.RemountEvery == r.o.RemountEvery-1 {
			return r.remount()
		}
		return r.reopen(r.rng.IntN(10) == 0)
	}
	if r.noWrites {
		switch r.rng.IntN(5) {
		case 0:
			return r.truncate()
		case 1:
			return r.fallocate()
		case 2:
			return r.mmapRead()
		case 3:
			return r.seqRead()
		}
		return r.pread()
	}
	switch k := r.rng.IntN(100); {
	case k < 20:
		return r.pread()
	case k < 40:
		return r.pwrite()
	case k < 45:
		return r.seqWrite()
	case k < 55:
		return r.truncate()
	case k < 63:
		return r.mmapRead()
	case k < 73:
		return r.mmapWrite()
	case k < 83:
		return r.copyRange()
	case k < 93:
		return r.fallocate()
	default:
		return r.seqRead()
	}
}

func (r *run) count(kind string) { r.stats.ByKind[kind]++ }

func (r *run) pread() error {
	r.count("pread")
	off, n := r.span(r.size() + 4096)
	r.record("pread  off %d len %d (size %d)", off, n, r.size())
	buf := make([]byte, n)
	got, err := unix.Pread(r.fd(), buf, off)
	if err != nil {
		return fmt.Errorf("pread: %w", err)
	}
	return r.compare("pread", buf[:got], off, n)
}

func (r *run) seqRead() error {
	r.count("read")
	off, n := r.span(r.size() + 4096)
	r.record("read   off %d len %d (lseek, read)", off, n)
	fd := r.fd()
	if _, err := unix.Seek(fd, off, 0); err != nil {
		return fmt.Errorf("lseek: %w", err)
	}
	buf := make([]byte, n)
	got, err := unix.Read(fd, buf)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	return r.compare("read", buf[:got], off, n)
}

// compare checks got, read at off with length n asked, against the model.
func (r *run) compare(what string, got []byte, off, n int64) error {
	want := []byte{}
	if off < r.size() {
		want = r.model[off:min(off+n, r.size())]
	}
	if len(got) != len(want) {
		return fmt.Errorf("%s at %d: got %d bytes, want %d", what, off, len(got), len(want))
	}
	if i := firstDiff(got, want); i >= 0 {
		return fmt.Errorf("%s at %d: byte %d (file offset %d) is %#x, want %#x", what, off, i, off+int64(i), got[i], want[i])
	}
	return nil
}

func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func (r *run) pwrite() error {
	r.count("pwrite")
	off, n := r.span(r.o.MaxSize)
	r.record("pwrite off %d len %d (size %d)", off, n, r.size())
	data := r.bytes(int(n))
	if _, err := unix.Pwrite(r.fd(), data, off); err != nil {
		return fmt.Errorf("pwrite: %w", err)
	}
	r.apply(off, data)
	return nil
}

func (r *run) seqWrite() error {
	r.count("write")
	off, n := r.span(r.o.MaxSize)
	r.record("write  off %d len %d (lseek, write)", off, n)
	data := r.bytes(int(n))
	fd := r.fd()
	if _, err := unix.Seek(fd, off, 0); err != nil {
		return fmt.Errorf("lseek: %w", err)
	}
	if _, err := unix.Write(fd, data); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	r.apply(off, data)
	return nil
}

func (r *run) apply(off int64, data []byte) {
	r.onlyTrunc = false
	if end := off + int64(len(data)); end > r.size() {
		r.resize(end)
	}
	copy(r.model[off:], data)
}

func (r *run) truncate() error {
	r.count("ftruncate")
	var n int64
	switch r.rng.IntN(5) {
	case 0:
		n = 0
	case 1:
		n = max(0, r.size()-r.rng.Int64N(100000))
	case 2:
		n = r.rng.Int64N(r.o.MaxSize + 1)
	default:
		// Mostly a few chunks: every commit chunks the whole file.
		n = r.rng.Int64N(min(r.o.MaxSize, 3<<20) + 1)
	}
	r.record("ftruncate %d (size %d)", n, r.size())
	if err := unix.Ftruncate(r.fd(), n); err != nil {
		return fmt.Errorf("ftruncate: %w", err)
	}
	r.resize(n)
	return nil
}

var pageSize = int64(os.Getpagesize())

// mmapSpan picks a range inside the file and the page-aligned mapping
// that covers it.
func (r *run) mmapSpan() (off, n, mapOff, mapLen int64, ok bool) {
	if r.size() == 0 {
		return 0, 0, 0, 0, false
	}
	off, n = r.span(r.size())
	mapOff = off / pageSize * pageSize
	return off, n, mapOff, off + n - mapOff, true
}

func (r *run) mmapRead() error {
	r.count("mmap read")
	off, n, mapOff, mapLen, ok := r.mmapSpan()
	if !ok {
		return nil
	}
	r.record("mmap read off %d len %d", off, n)
	m, err := unix.Mmap(r.fd(), mapOff, int(mapLen), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	got := bytes.Clone(m[off-mapOff:])
	if err := unix.Munmap(m); err != nil {
		return fmt.Errorf("munmap: %w", err)
	}
	return r.compare("mmap read", got, off, n)
}

func (r *run) mmapWrite() error {
	r.count("mmap write")
	off, n, mapOff, mapLen, ok := r.mmapSpan()
	if !ok {
		return nil
	}
	msync := r.rng.IntN(4) == 0 // else the close's flush writes the pages back
	r.record("mmap write off %d len %d, msync %v", off, n, msync)
	m, err := unix.Mmap(r.fd(), mapOff, int(mapLen), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	data := r.bytes(int(n))
	copy(m[off-mapOff:], data)
	if msync {
		if err := unix.Msync(m, unix.MS_SYNC); err != nil {
			unix.Munmap(m)
			return fmt.Errorf("msync: %w", err)
		}
	}
	if err := unix.Munmap(m); err != nil {
		return fmt.Errorf("munmap: %w", err)
	}
	r.apply(off, data)
	return nil
}

func (r *run) copyRange() error {
	r.count("copy_file_range")
	from, name, src := r.srcF, "src", r.src
	if r.rng.IntN(3) == 0 && r.size() > 0 {
		from, name, src = r.f, "self", r.model
	}
	offIn, n := r.span(int64(len(src)))
	offOut := r.rng.Int64N(r.o.MaxSize - n + 1)
	if from == r.f && offIn < offOut+n && offOut < offIn+n {
		offOut = (offIn + n) % (r.o.MaxSize - n + 1) // the kernel refuses overlap
		if offIn < offOut+n && offOut < offIn+n {
			return nil
		}
	}
	r.record("copy_file_range %s off %d len %d -> off %d", name, offIn, n, offOut)
	data := bytes.Clone(src[offIn : offIn+n])
	dst := r.fd()
	done := int64(0)
	for done < n {
		in, out := offIn+done, offOut+done
		k, err := unix.CopyFileRange(int(from.Fd()), &in, dst, &out, int(n-done), 0)
		if err != nil {
			return fmt.Errorf("copy_file_range after %d bytes: %w", done, err)
		}
		if k == 0 {
			return fmt.Errorf("copy_file_range: 0 bytes after %d of %d", done, n)
		}
		done += int64(k)
	}
	r.apply(offOut, data)
	return nil
}

func (r *run) fallocate() error {
	modes := []struct {
		name string
		mode uint32
	}{
		{"extend", 0},
		{"keep size", unix.FALLOC_FL_KEEP_SIZE},
		{"punch hole", unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_KEEP_SIZE},
		{"zero range", unix.FALLOC_FL_ZERO_RANGE},
	}
	m := modes[r.rng.IntN(len(modes))]
	r.count("fallocate " + m.name)
	off, n := r.span(r.o.MaxSize)
	r.record("fallocate %s off %d len %d (size %d)", m.name, off, n, r.size())
	if err := unix.Fallocate(r.fd(), m.mode, off, n); err != nil {
		if errors.Is(err, syscall.EOPNOTSUPP) {
			r.stats.Unsupported["fallocate "+m.name]++
			return nil
		}
		return fmt.Errorf("fallocate %s: %w", m.name, err)
	}
	end := off + n
	keep := m.mode&unix.FALLOC_FL_KEEP_SIZE != 0
	if m.mode&(unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_ZERO_RANGE) != 0 && off < r.size() {
		clear(r.model[off:min(end, r.size())])
		r.onlyTrunc = false
	}
	if !keep && end > r.size() {
		r.resize(end)
	}
	return nil
}

func (r *run) checkSize() error {
	var st unix.Stat_t
	if err := unix.Fstat(r.fd(), &st); err != nil {
		return fmt.Errorf("fstat: %w", err)
	}
	if st.Size != r.size() {
		return fmt.Errorf("fstat size %d, want %d", st.Size, r.size())
	}
	return nil
}

func (r *run) close() error {
	if r.other != nil {
		r.record("close the second descriptor")
		err := r.other.Close()
		r.other = nil
		if err != nil {
			return fmt.Errorf("close the second descriptor: %w", err)
		}
	}
	r.record("close")
	err := r.f.Close()
	r.f = nil
	if err != nil {
		return fmt.Errorf("close: %w", err)
	}
	r.stats.Closes++
	onlyTrunc := r.onlyTrunc
	r.onlyTrunc = false
	if r.o.Closed != nil {
		if err := r.o.Closed(bytes.Clone(r.model), onlyTrunc); err != nil {
			return fmt.Errorf("after close: %w", err)
		}
	}
	return nil
}

// reopen closes the file, checks the whole content by path, and opens it
// again (truncating it with trunc).
func (r *run) reopen(trunc bool) error {
	if r.f != nil {
		if err := r.close(); err != nil {
			return err
		}
		if err := r.checkAll("after close"); err != nil {
			return err
		}
	}
	flags := os.O_RDWR
	if trunc {
		flags |= os.O_TRUNC
	}
	r.record("open trunc=%v", trunc)
	f, err := os.OpenFile(r.path(), flags, 0)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	r.f = f
	if r.rng.IntN(3) == 0 {
		r.record("open a second descriptor")
		if r.other, err = os.OpenFile(r.path(), os.O_RDWR, 0); err != nil {
			return fmt.Errorf("open a second descriptor: %w", err)
		}
	}
	r.noWrites = r.rng.IntN(4) == 0
	if trunc {
		r.resize(0)
		r.onlyTrunc = true
	}
	if r.srcF == nil {
		if r.srcF, err = os.Open(filepath.Join(r.o.Dir, SrcName)); err != nil {
			return fmt.Errorf("open copy source: %w", err)
		}
	}
	return nil
}

func (r *run) remount() error {
	r.count("remount")
	if err := r.close(); err != nil {
		return err
	}
	r.srcF.Close()
	r.srcF = nil
	r.record("remount")
	if err := r.o.Remount(); err != nil {
		return fmt.Errorf("remount: %w", err)
	}
	r.stats.Remounts++
	if err := r.checkAll("after remount"); err != nil {
		return err
	}
	return r.reopen(false)
}

// checkAll reads the file by path and compares it with the model.
func (r *run) checkAll(when string) error {
	got, err := os.ReadFile(r.path())
	if err != nil {
		return fmt.Errorf("read %s: %w", when, err)
	}
	if len(got) != len(r.model) {
		return fmt.Errorf("%s: file has %d bytes, want %d", when, len(got), len(r.model))
	}
	if i := firstDiff(got, r.model); i >= 0 {
		return fmt.Errorf("%s: byte %d is %#x, want %#x", when, i, got[i], r.model[i])
	}
	return nil
}
