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

// encodingV1 is the first byte of every encoded FileVersion.
const encodingV1 = 1

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
func (v FileVersion) MarshalBinary() ([]byte, error) {
	return v.encode(), nil
}

// encode returns v's encoding in a buffer of the right size.
func (v FileVersion) encode() []byte {
	return v.appendBinary(make([]byte, 0, 96+len(v.Path)+len(v.Target)+len(v.From)+len(v.Origin)+48*len(v.Chunks)+32*len(v.Vector)))
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
	b = binary.AppendUvarint(b, uint64(len(v.Vector)))
	for _, d := range slices.Sorted(maps.Keys(v.Vector)) {
		b = appendString(b, d)
		b = binary.AppendUvarint(b, v.Vector[d])
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
	if ver != encodingV1 {
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
	mode, err := d.uvarint()
	if err != nil {
		return v, fmt.Errorf("mode: %w", err)
	}
	if mode > 0xffffffff {
		return v, fmt.Errorf("mode %#x out of range", mode)
	}
	v.Mode = uint32(mode)
	if v.Size, err = d.varint(); err != nil {
		return v, fmt.Errorf("size: %w", err)
	}
	sec, err := d.varint()
	if err != nil {
		return v, fmt.Errorf("mtime: %w", err)
	}
	nsec, err := d.uvarint()
	if err != nil {
		return v, fmt.Errorf("mtime nanoseconds: %w", err)
	}
	if nsec >= 1e9 {
		return v, fmt.Errorf("mtime nanoseconds %d out of range", nsec)
	}
	v.MTime = time.Unix(sec, int64(nsec)).UTC()
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
	c, err := d.byte()
	if err != nil {
		return v, err
	}
	v.Change = ChangeKind(c)
	if v.From, err = d.string(MaxPath); err != nil {
		return v, fmt.Errorf("from: %w", err)
	}
	if v.Origin, err = d.string(maxDeviceLen); err != nil {
		return v, fmt.Errorf("origin: %w", err)
	}
	if v.Seq, err = d.uvarint(); err != nil {
		return v, fmt.Errorf("seq: %w", err)
	}
	if n, err = d.uvarint(); err != nil {
		return v, fmt.Errorf("vector length: %w", err)
	}
	if n > maxVectorLen || n > uint64(len(d.b)/2) {
		return v, fmt.Errorf("vector length %d too large", n)
	}
	if n > 0 {
		v.Vector = make(Vector, n)
	}
	prev := ""
	for i := range n {
		dev, err := d.string(maxDeviceLen)
		if err != nil {
			return v, fmt.Errorf("vector device: %w", err)
		}
		if i > 0 && dev <= prev {
			return v, fmt.Errorf("vector devices not sorted and unique")
		}
		prev = dev
		if v.Vector[dev], err = d.uvarint(); err != nil {
			return v, fmt.Errorf("vector counter: %w", err)
		}
	}
	return v, nil
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
