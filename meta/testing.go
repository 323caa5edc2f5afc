package meta

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/uberan/latus/chunks"
)

// TestDB opens a fresh DB for device in t.TempDir() and closes it when
// the test ends. Its clock stands at the Unix epoch, so counters and index
// positions count 1, 2, 3… (tests of the wall-clock rule set Options.Now).
func TestDB(t testing.TB, device string) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "meta.db"), Options{Device: device, Logger: TestLogger(t), Now: EpochClock})
	if err != nil {
		t.Fatalf("open test meta db: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// EpochClock is a clock that stands at the Unix epoch (Options.Now).
func EpochClock() time.Time { return time.Unix(0, 0) }

// TestLogger logs through t.Log at debug level.
func TestLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// FileContent returns the content fields of a regular file holding data
// (mode 0644), cut into MaxChunk refs without storing anything.
func FileContent(data []byte, mtime time.Time) FileVersion {
	f := FileVersion{Kind: KindFile, Mode: 0o644, Size: int64(len(data)), MTime: mtime, Hash: chunks.Sum(data)}
	for off := 0; off < len(data); off += chunks.MaxChunk {
		end := min(off+chunks.MaxChunk, len(data))
		f.Chunks = append(f.Chunks, chunks.Ref{ID: chunks.Sum(data[off:end]), Offset: int64(off), Size: int64(end - off)})
	}
	return f
}

// InlineContent returns the content fields of a small regular file (mode
// 0644) whose data is kept inline; data must be 1 to InlineMax bytes.
func InlineContent(data []byte, mtime time.Time) FileVersion {
	return FileVersion{Kind: KindFile, Mode: 0o644, Size: int64(len(data)), MTime: mtime, Hash: chunks.Sum(data), Inline: bytes.Clone(data)}
}

// DirContent returns the content fields of a directory (mode 0755).
func DirContent(mtime time.Time) FileVersion {
	return FileVersion{Kind: KindDir, Mode: 0o755, MTime: mtime}
}

// SymlinkContent returns the content fields of a symlink to target.
func SymlinkContent(target string, mtime time.Time) FileVersion {
	return FileVersion{Kind: KindSymlink, Mode: 0o777, Size: int64(len(target)), Target: target, MTime: mtime}
}

// TestCommit commits changes and fails the test on error.
func TestCommit(t testing.TB, db *DB, changes ...Change) []FileVersion {
	t.Helper()
	vs, err := db.Commit(changes)
	if err != nil {
		t.Fatalf("commit on %s: %v", db.Device(), err)
	}
	return vs
}

// TestWrite creates or modifies the file p to hold data.
func TestWrite(t testing.TB, db *DB, p string, data []byte, mtime time.Time) FileVersion {
	t.Helper()
	kind := Created
	if _, err := db.Lookup(p); err == nil {
		kind = Modified
	}
	return TestCommit(t, db, Change{Kind: kind, Path: p, File: FileContent(data, mtime)})[0]
}

// TestMkdir creates the directory p.
func TestMkdir(t testing.TB, db *DB, p string, mtime time.Time) FileVersion {
	t.Helper()
	return TestCommit(t, db, Change{Kind: Created, Path: p, File: DirContent(mtime)})[0]
}

// TestSync merges every version of from's index that to has not merged
// yet, page by page, and returns the merge results.
func TestSync(t testing.TB, to, from *DB, page int) []MergeResult {
	t.Helper()
	var out []MergeResult
	e := from.Epoch()
	pos, err := to.PullFrom(from.Device(), e)
	if err != nil {
		t.Fatal(err)
	}
	for {
		vs, next, err := from.Since(pos, page)
		if err != nil {
			t.Fatalf("since %d on %s: %v", pos, from.Device(), err)
		}
		if len(vs) == 0 {
			return out
		}
		res, err := to.MergeAt(from.Device(), e.ID, vs, next)
		if err != nil {
			t.Fatalf("merge %s → %s: %v", from.Device(), to.Device(), err)
		}
		out = append(out, res)
		pos = next
	}
}

// MemPutter is a Putter that keeps chunks in memory, for tests.
type MemPutter struct {
	mu     sync.Mutex
	chunks map[chunks.ID][]byte // guarded by mu
}

// PutStream splits r with chunks.Split and keeps every chunk. Content
// shorter than chunks.MinChunk is one chunk, as Split would cut it, without
// paying for a chunker.
func (m *MemPutter) PutStream(r io.Reader) ([]chunks.Ref, chunks.ID, int64, error) {
	head := make([]byte, chunks.MinChunk)
	n, err := io.ReadFull(r, head)
	switch err {
	case io.EOF, io.ErrUnexpectedEOF:
		if n == 0 {
			return nil, chunks.Sum(nil), 0, nil
		}
		id := m.keep(head[:n])
		return []chunks.Ref{{ID: id, Size: int64(n)}}, id, int64(n), nil
	case nil:
	default:
		return nil, chunks.ID{}, 0, err
	}
	var refs []chunks.Ref
	var all bytes.Buffer
	err = chunks.Split(io.MultiReader(bytes.NewReader(head), r), func(ref chunks.Ref, data []byte) error {
		if m.keep(data) != ref.ID {
			return fmt.Errorf("chunk at %d: id does not match its bytes", ref.Offset)
		}
		all.Write(data)
		refs = append(refs, ref)
		return nil
	})
	if err != nil {
		return nil, chunks.ID{}, 0, err
	}
	return refs, chunks.Sum(all.Bytes()), int64(all.Len()), nil
}

// Hold does nothing: chunks kept in memory are never collected.
func (m *MemPutter) Hold() (release func()) { return func() {} }

func (m *MemPutter) keep(data []byte) chunks.ID {
	id := chunks.Sum(data)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.chunks == nil {
		m.chunks = make(map[chunks.ID][]byte)
	}
	m.chunks[id] = bytes.Clone(data)
	return id
}

// Content reassembles a file version's bytes from the chunks kept.
func (m *MemPutter) Content(v FileVersion) ([]byte, error) {
	if v.IsInline() {
		return bytes.Clone(v.Inline), nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []byte
	for _, r := range v.Chunks {
		data, ok := m.chunks[r.ID]
		if !ok {
			return nil, fmt.Errorf("%s: chunk %s missing", v.Path, r.ID.Short())
		}
		if int64(len(out)) != r.Offset || int64(len(data)) != r.Size {
			return nil, fmt.Errorf("%s: chunk %s at %d+%d does not fit", v.Path, r.ID.Short(), r.Offset, r.Size)
		}
		out = append(out, data...)
	}
	return out, nil
}
