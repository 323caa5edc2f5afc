package meta

import (
	"fmt"
	"strings"
	"time"

	"github.com/uberan/latus/chunks"
)

// Bounds on version fields.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
)

// validDevice accepts device ids that are safe inside a file name (they end
// up in conflict copy names): 1 to 64 of [0-9A-Za-z_-].
func validDevice(d string) error {
	if d == "" || len(d) > maxDeviceLen {
		return fmt.Errorf("%w: device id %q must be 1 to %d characters", ErrInvalidVersion, d, maxDeviceLen)
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-') {
			return fmt.Errorf("%w: device id %q has a character outside [0-9A-Za-z_-]", ErrInvalidVersion, d)
		}
	}
	return nil
}

// checkContent checks the content fields of v (kind, mode, size, mtime,
// chunks, hash, target, deleted) for consistency. Errors wrap
// ErrInvalidVersion.
func checkContent(v *FileVersion) error {
	if v.Kind >= numKinds {
		return fmt.Errorf("%w: kind %d", ErrInvalidVersion, v.Kind)
	}
	if v.Mode&^0o7777 != 0 {
		return fmt.Errorf("%w: mode %#o has bits outside 0o7777", ErrInvalidVersion, v.Mode)
	}
	if v.Size < 0 {
		return fmt.Errorf("%w: negative size %d", ErrInvalidVersion, v.Size)
	}
	if v.MTime.Before(minTime) || v.MTime.After(maxTime) {
		return fmt.Errorf("%w: mtime %v out of range", ErrInvalidVersion, v.MTime)
	}
	if v.Deleted || v.Kind != KindFile {
		what := "a " + v.Kind.String()
		if v.Deleted {
			what = "a deletion"
		}
		if len(v.Chunks) > 0 || v.Hash != (chunks.ID{}) || len(v.Inline) > 0 {
			return fmt.Errorf("%w: %s has content", ErrInvalidVersion, what)
		}
	}
	if v.Kind != KindSymlink || v.Deleted {
		if v.Target != "" {
			return fmt.Errorf("%w: target on a %s", ErrInvalidVersion, v.Kind)
		}
	}
	switch {
	case v.Deleted || v.Kind == KindDir:
		if v.Size != 0 {
			return fmt.Errorf("%w: size %d on a deletion or directory", ErrInvalidVersion, v.Size)
		}
	case v.Kind == KindSymlink:
		if v.Target == "" || len(v.Target) > MaxPath || strings.IndexByte(v.Target, 0) >= 0 {
			return fmt.Errorf("%w: symlink target %q", ErrInvalidVersion, v.Target)
		}
		if v.Size != int64(len(v.Target)) {
			return fmt.Errorf("%w: symlink size %d, target is %d bytes", ErrInvalidVersion, v.Size, len(v.Target))
		}
	case v.Kind == KindFile && v.IsInline():
		if len(v.Chunks) > 0 || len(v.Inline) > InlineMax || v.Size != int64(len(v.Inline)) {
			return fmt.Errorf("%w: inline content of %d bytes with %d chunks, size %d: want 1 to %d bytes, no chunks, size the content's",
				ErrInvalidVersion, len(v.Inline), len(v.Chunks), v.Size, InlineMax)
		}
		if v.Hash != chunks.Sum(v.Inline) {
			return fmt.Errorf("%w: hash %s is not the inline content's", ErrInvalidVersion, v.Hash.Short())
		}
	case v.Kind == KindFile:
		var off int64
		for i, r := range v.Chunks {
			if r.Offset != off || r.Size <= 0 || r.Size > chunks.MaxChunk {
				return fmt.Errorf("%w: chunk %d at %d+%d, want offset %d and size in (0, %d]",
					ErrInvalidVersion, i, r.Offset, r.Size, off, chunks.MaxChunk)
			}
			off += r.Size
		}
		if off != v.Size {
			return fmt.Errorf("%w: chunks cover %d bytes, size is %d", ErrInvalidVersion, off, v.Size)
		}
	}
	return nil
}

// validateVersion checks everything about a version received from a peer.
// Errors wrap ErrInvalidPath or ErrInvalidVersion.
func validateVersion(v *FileVersion) error {
	if err := ValidatePath(v.Path); err != nil {
		return err
	}
	if err := checkContent(v); err != nil {
		return fmt.Errorf("%q: %w", v.Path, err)
	}
	if v.Change >= numChangeKinds {
		return fmt.Errorf("%w: %q: change %d", ErrInvalidVersion, v.Path, v.Change)
	}
	if v.Change == Renamed {
		if err := ValidatePath(v.From); err != nil {
			return fmt.Errorf("%q renamed from: %w", v.Path, err)
		}
	} else if v.From != "" {
		return fmt.Errorf("%w: %q: from %q on a %s version", ErrInvalidVersion, v.Path, v.From, v.Change)
	}
	if err := validDevice(v.Origin); err != nil {
		return fmt.Errorf("%q origin: %w", v.Path, err)
	}
	if v.Seq == 0 {
		return fmt.Errorf("%w: %q: sequence 0", ErrInvalidVersion, v.Path)
	}
	if len(v.Vector) > maxVectorLen {
		return fmt.Errorf("%w: %q: vector of %d devices", ErrInvalidVersion, v.Path, len(v.Vector))
	}
	for d, c := range v.Vector {
		if err := validDevice(d); err != nil {
			return fmt.Errorf("%q vector: %w", v.Path, err)
		}
		if c == 0 {
			return fmt.Errorf("%w: %q: zero counter for %s", ErrInvalidVersion, v.Path, d)
		}
	}
	if v.Vector[v.Origin] < v.Seq {
		return fmt.Errorf("%w: %q: vector %v has not seen its own version %s:%d", ErrInvalidVersion, v.Path, v.Vector, v.Origin, v.Seq)
	}
	return nil
}

// normTime drops the monotonic reading and location, as the encoding does.
func normTime(t time.Time) time.Time {
	return time.Unix(t.Unix(), int64(t.Nanosecond())).UTC()
}
