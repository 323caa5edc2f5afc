package meta

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/uberan/latus/chunks"
)

// PutContent reads r to its end and returns the content fields of a
// regular file holding its bytes (Kind, Size, Hash, and Inline or Chunks):
// a content of at most InlineMax bytes goes inline, a larger one into
// store as chunks. Every local writer (fusefs, Import) stores content
// through it, so one rule decides. Callers hold store (Putter.Hold) until
// the version is committed, as for PutStream.
func PutContent(store Putter, r io.Reader) (FileVersion, error) {
	buf := make([]byte, InlineMax+1)
	n, err := io.ReadFull(r, buf)
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		f := FileVersion{Kind: KindFile, Size: int64(n), Hash: chunks.Sum(buf[:n])}
		if n > 0 {
			f.Inline = bytes.Clone(buf[:n])
		}
		return f, nil
	case err != nil:
		return FileVersion{}, fmt.Errorf("read content: %w", err)
	}
	refs, hash, size, err := store.PutStream(io.MultiReader(bytes.NewReader(buf), r))
	if err != nil {
		return FileVersion{}, fmt.Errorf("store content: %w", err)
	}
	return FileVersion{Kind: KindFile, Size: size, Hash: hash, Chunks: refs}, nil
}
