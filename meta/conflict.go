package meta

import (
	"path"
	"strings"
	"time"
	"unicode/utf8"
)

// conflictMarker is what every conflict copy's name contains.
const conflictMarker = ".sync-conflict-"

// conflictName is where the loser of a conflict at p is kept:
// name.sync-conflict-YYYYMMDD-HHMMSS-<device>.ext, with the loser's mtime in
// UTC and the loser's origin device, so that every device names the same
// conflict the same way. A name starting with a dot and having no other dot
// (".bashrc") has no extension. The stem is shortened when needed so the
// name stays within MaxName bytes.
func conflictName(p string, mtime time.Time, device string) string {
	name := base(p)
	ext := path.Ext(name)
	if ext == name || len(ext) > MaxName/2 {
		ext = ""
	}
	stem := name[:len(name)-len(ext)]
	suffix := conflictMarker + mtime.UTC().Format("20060102-150405") + "-" + device
	if over := len(stem) + len(suffix) + len(ext) - MaxName; over > 0 {
		cut := len(stem) - over
		for cut > 0 && !utf8.RuneStart(stem[cut]) {
			cut--
		}
		stem = stem[:cut]
	}
	return join(parent(p), stem+suffix+ext)
}

// IsConflictCopy reports whether p names a conflict copy.
func IsConflictCopy(p string) bool {
	return strings.Contains(base(p), conflictMarker)
}

// beats reports whether a wins over b in a conflict. Every device applies
// the same total order, so all pick the same winner: a live version beats
// a deletion (no edit is lost to a concurrent delete), a directory beats a
// file or symlink (it may have children), then the newer mtime, the larger
// origin, the larger sequence, and finally the larger encoding.
func beats(a, b FileVersion) bool {
	if a.Deleted != b.Deleted {
		return !a.Deleted
	}
	if ad, bd := a.Kind == KindDir, b.Kind == KindDir; ad != bd {
		return ad
	}
	if !a.MTime.Equal(b.MTime) {
		return a.MTime.After(b.MTime)
	}
	if a.Origin != b.Origin {
		return a.Origin > b.Origin
	}
	if a.Seq != b.Seq {
		return a.Seq > b.Seq
	}
	return string(a.encode()) > string(b.encode())
}

// sameContent reports whether a and b show the same thing to a reader, so
// that concurrent a and b are no conflict. Mode and mtime do not count.
func sameContent(a, b FileVersion) bool {
	if a.Deleted || b.Deleted {
		return a.Deleted == b.Deleted
	}
	return a.Kind == b.Kind && a.Hash == b.Hash && a.Target == b.Target && a.Size == b.Size
}

// conflictCopy is the version that keeps loser's content at its conflict
// name. It is a function of loser alone (origin, sequence and vector
// included), so every device that makes it makes the identical version.
func conflictCopy(loser FileVersion) FileVersion {
	return FileVersion{
		Path:   conflictName(loser.Path, loser.MTime, loser.Origin),
		Kind:   loser.Kind,
		Mode:   loser.Mode,
		Size:   loser.Size,
		MTime:  loser.MTime,
		Chunks: loser.Chunks,
		Hash:   loser.Hash,
		Inline: loser.Inline,
		Target: loser.Target,
		Change: Created,
		Origin: loser.Origin,
		Seq:    loser.Seq,
		Vector: loser.Vector,
	}
}
