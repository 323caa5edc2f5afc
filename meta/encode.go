package meta

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/uberan/latus/chunks"
)

// The first byte of every encoded FileVersion: its layout.
const (
	encodingV1     = 1 // every version without inline content
	encodingInline = 2 // a live file with its content inline
)

// Limits the decoder enforces so that hostile input cannot make it allocate
// much more than its own size.
const (
	maxVectorLen = 1 << 12
	maxDeviceLen = 64
)

var errShort = errors.New("truncated")

// MarshalBinary encodes v in Latus's compact, versioned binary form, the
// form stored in meta.db and sent to peers. The encoding is deterministic:
// equal versions encode to equal bytes.
//
// Layout (v1): 0x01, path, kind, mode, size, mtime (seconds, nanoseconds),
// chunk count and refs (id, offset, size), hash, target, flags (bit 0:
// deleted), change, from, origin, seq, vector (count, then device/counter
// pairs sorted by device). Strings are uvarint length + bytes; integers are
// varints.
//
// A live file with inline content (1 to InlineMax bytes) has its own, more
// compact layout: 0x02, path, mode, mtime (seconds, nanoseconds), content
// (uvarint length + bytes), change, from, origin, seq, vector. Kind (file),
// size, hash (BLAKE3 of the content), no chunks, no target and not deleted
// follow from it; a vector of count 0 stands for {origin: seq}, a new
// file's. Every other version keeps the v1 bytes it always had, so records
// written before inline content existed decode and re-encode unchanged
// (the seen keys and the conflict order hash and compare encodings).
func (v FileVersion) MarshalBinary() ([]byte, error) {
	return v.encode(), nil
}

// encode returns v's encoding in a buffer of the right size.
func (v FileVersion) encode() []byte {
	b := make([]byte, 0, 96+len(v.Path)+len(v.Target)+len(v.From)+len(v.Origin)+len(v.Inline)+48*len(v.Chunks)+32*len(v.Vector))
	if v.IsInline() {
		return v.appendInline(b)
	}
	return v.appendBinary(b)
}

func (v FileVersion) appendInline(b []byte) []byte {
	b = append(b, encodingInline)
	b = appendString(b, v.Path)
	b = binary.AppendUvarint(b, uint64(v.Mode))
	b = binary.AppendVarint(b, v.MTime.Unix())
	b = binary.AppendUvarint(b, uint64(v.MTime.Nanosecond()))
	b = binary.AppendUvarint(b, uint64(len(v.Inline)))
	b = append(b, v.Inline...)
	b = append(b, byte(v.Change))
	b = appendString(b, v.From)
	b = appendString(b, v.Origin)
	b = binary.AppendUvarint(b, v.Seq)
	if len(v.Vector) == 1 && v.Vector[v.Origin] == v.Seq {
		return binary.AppendUvarint(b, 0)
	}
	return appendVector(b, v.Vector)
}

func (v FileVersion) appendBinary(b []byte) []byte {
	b = append(b, encodingV1)
	b = appendString(b, v.Path)
	b = append(b, byte(v.Kind))
	b = binary.AppendUvarint(b, uint64(v.Mode))
	b = binary.AppendVarint(b, v.Size)
	b = binary.AppendVarint(b, v.MTime.Unix())
	b = binary.AppendUvarint(b, uint64(v.MTime.Nanosecond()))
	b = binary.AppendUvarint(b, uint64(len(v.Chunks)))
	for _, r := range v.Chunks {
		b = append(b, r.ID[:]...)
		b = binary.AppendVarint(b, r.Offset)
		b = binary.AppendVarint(b, r.Size)
	}
	b = append(b, v.Hash[:]...)
	b = appendString(b, v.Target)
	var flags byte
	if v.Deleted {
		flags |= 1
	}
	b = append(b, flags, byte(v.Change))
	b = appendString(b, v.From)
	b = appendString(b, v.Origin)
	b = binary.AppendUvarint(b, v.Seq)
	return appendVector(b, v.Vector)
}

func appendVector(b []byte, vec Vector) []byte {
	b = binary.AppendUvarint(b, uint64(len(vec)))
	for _, d := range slices.Sorted(maps.Keys(vec)) {
		b = appendString(b, d)
		b = binary.AppendUvarint(b, vec[d])
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// UnmarshalBinary decodes the form MarshalBinary makes. It never panics and
// never allocates much more than len(data), whatever the bytes; errors wrap
// ErrInvalidVersion. It checks structure only: use Merge (which validates
// every version) before trusting a decoded version's content.
func (v *FileVersion) UnmarshalBinary(data []byte) error {
	d := decoder{b: data}
	out, err := d.version()
	if err == nil && len(d.b) != 0 {
		err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if err != nil {
		return fmt.Errorf("%w: decode: %w", ErrInvalidVersion, err)
	}
	*v = out
	return nil
}

// storedForm returns enc, a version's encoding, without its path, as
// meta.db stores it: the keys of files and history name the path already.
// Seen keys still hash the whole encoding (encode).
func storedForm(enc []byte) []byte {
	n, k := binary.Uvarint(enc[1:])
	rest := enc[1+k+int(n):]
	return append(append(make([]byte, 0, 2+len(rest)), enc[0], 0), rest...)
}

// decodeStored decodes a record of meta.db stored for path p: its stored
// form (no path), or the whole encoding that databases written before
// stored.
func decodeStored(val []byte, p string) (FileVersion, error) {
	v, err := decodeVersion(val)
	if err == nil && v.Path == "" {
		v.Path = p
	}
	return v, err
}

// decodeVersion is UnmarshalBinary as a function.
func decodeVersion(data []byte) (FileVersion, error) {
	var v FileVersion
	err := v.UnmarshalBinary(data)
	return v, err
}

type decoder struct{ b []byte }

func (d *decoder) version() (FileVersion, error) {
	var v FileVersion
	ver, err := d.byte()
	if err != nil {
		return v, err
	}
	switch ver {
	case encodingV1:
	case encodingInline:
		return d.inline()
	default:
		return v, fmt.Errorf("unknown encoding version %d", ver)
	}
	if v.Path, err = d.string(MaxPath); err != nil {
		return v, fmt.Errorf("path: %w", err)
	}
	k, err := d.byte()
	if err != nil {
		return v, err
	}
	v.Kind = Kind(k)
	if v.Mode, err = d.mode(); err != nil {
		return v, err
	}
	if v.Size, err = d.varint(); err != nil {
		return v, fmt.Errorf("size: %w", err)
	}
	if v.MTime, err = d.mtime(); err != nil {
		return v, err
	}
	n, err := d.uvarint()
	if err != nil {
		return v, fmt.Errorf("chunk count: %w", err)
	}
	// Each ref takes at least 34 bytes: bound the allocation by the input.
	if n > uint64(len(d.b)/34) {
		return v, fmt.Errorf("chunk count %d: %w", n, errShort)
	}
	if n > 0 {
		v.Chunks = make([]chunks.Ref, n)
	}
	for i := range v.Chunks {
		r := &v.Chunks[i]
		if err := d.id(&r.ID); err != nil {
			return v, err
		}
		if r.Offset, err = d.varint(); err != nil {
			return v, fmt.Errorf("chunk offset: %w", err)
		}
		if r.Size, err = d.varint(); err != nil {
			return v, fmt.Errorf("chunk size: %w", err)
		}
	}
	if err := d.id(&v.Hash); err != nil {
		return v, fmt.Errorf("hash: %w", err)
	}
	if v.Target, err = d.string(MaxPath); err != nil {
		return v, fmt.Errorf("target: %w", err)
	}
	flags, err := d.byte()
	if err != nil {
		return v, err
	}
	if flags&^1 != 0 {
		return v, fmt.Errorf("unknown flags %#x", flags)
	}
	v.Deleted = flags&1 != 0
	return v, d.tail(&v)
}

// tail decodes what both layouts end with: change, from, origin, seq and
// vector.
func (d *decoder) tail(v *FileVersion) error {
	c, err := d.byte()
	if err != nil {
		return err
	}
	v.Change = ChangeKind(c)
	if v.From, err = d.string(MaxPath); err != nil {
		return fmt.Errorf("from: %w", err)
	}
	if v.Origin, err = d.string(maxDeviceLen); err != nil {
		return fmt.Errorf("origin: %w", err)
	}
	if v.Seq, err = d.uvarint(); err != nil {
		return fmt.Errorf("seq: %w", err)
	}
	v.Vector, err = d.vector()
	return err
}

// inline decodes the rest of an encodingInline version.
func (d *decoder) inline() (FileVersion, error) {
	v := FileVersion{Kind: KindFile}
	var err error
	if v.Path, err = d.string(MaxPath); err != nil {
		return v, fmt.Errorf("path: %w", err)
	}
	if v.Mode, err = d.mode(); err != nil {
		return v, err
	}
	if v.MTime, err = d.mtime(); err != nil {
		return v, err
	}
	n, err := d.uvarint()
	if err != nil {
		return v, fmt.Errorf("inline length: %w", err)
	}
	if n == 0 || n > InlineMax {
		return v, fmt.Errorf("inline content of %d bytes, want 1 to %d", n, InlineMax)
	}
	if n > uint64(len(d.b)) {
		return v, fmt.Errorf("inline content: %w", errShort)
	}
	v.Inline = slices.Clone(d.b[:n])
	d.b = d.b[n:]
	v.Size, v.Hash = int64(n), chunks.Sum(v.Inline)
	if err := d.tail(&v); err != nil {
		return v, err
	}
	if v.Vector == nil {
		v.Vector = Vector{v.Origin: v.Seq}
	} else if len(v.Vector) == 1 && v.Vector[v.Origin] == v.Seq {
		return v, fmt.Errorf("vector {origin: seq} not in its short form")
	}
	return v, nil
}

func (d *decoder) mode() (uint32, error) {
	mode, err := d.uvarint()
	if err != nil {
		return 0, fmt.Errorf("mode: %w", err)
	}
	if mode > 0xffffffff {
		return 0, fmt.Errorf("mode %#x out of range", mode)
	}
	return uint32(mode), nil
}

func (d *decoder) mtime() (time.Time, error) {
	sec, err := d.varint()
	if err != nil {
		return time.Time{}, fmt.Errorf("mtime: %w", err)
	}
	nsec, err := d.uvarint()
	if err != nil {
		return time.Time{}, fmt.Errorf("mtime nanoseconds: %w", err)
	}
	if nsec >= 1e9 {
		return time.Time{}, fmt.Errorf("mtime nanoseconds %d out of range", nsec)
	}
	return time.Unix(sec, int64(nsec)).UTC(), nil
}

// vector decodes a count and that many device/counter pairs, sorted by
// device; nil for count 0.
func (d *decoder) vector() (Vector, error) {
	n, err := d.uvarint()
	if err != nil {
		return nil, fmt.Errorf("vector length: %w", err)
	}
	if n > maxVectorLen || n > uint64(len(d.b)/2) {
		return nil, fmt.Errorf("vector length %d too large", n)
	}
	if n == 0 {
		return nil, nil
	}
	vec := make(Vector, n)
	prev := ""
	for i := range n {
		dev, err := d.string(maxDeviceLen)
		if err != nil {
			return nil, fmt.Errorf("vector device: %w", err)
		}
		if i > 0 && dev <= prev {
			return nil, fmt.Errorf("vector devices not sorted and unique")
		}
		prev = dev
		if vec[dev], err = d.uvarint(); err != nil {
			return nil, fmt.Errorf("vector counter: %w", err)
		}
	}
	return vec, nil
}

func (d *decoder) byte() (byte, error) {
	if len(d.b) == 0 {
		return 0, errShort
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c, nil
}

func (d *decoder) uvarint() (uint64, error) {
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		return 0, errShort
	}
	d.b = d.b[n:]
	return x, nil
}

func (d *decoder) varint() (int64, error) {
	x, n := binary.Varint(d.b)
	if n <= 0 {
		return 0, errShort
	}
	d.b = d.b[n:]
	return x, nil
}

func (d *decoder) string(limit int) (string, error) {
	n, err := d.uvarint()
	if err != nil {
		return "", err
	}
	if n > uint64(limit) {
		return "", fmt.Errorf("length %d over %d", n, limit)
	}
	if n > uint64(len(d.b)) {
		return "", errShort
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s, nil
}

func (d *decoder) id(id *chunks.ID) error {
	if len(d.b) < len(id) {
		return errShort
	}
	copy(id[:], d.b)
	d.b = d.b[len(id):]
	return nil
}
