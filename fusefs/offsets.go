package fusefs

import (
	"sort"

	"github.com/uberan/latus/chunks"
)

// span is the part of one chunk that a read touches.
type span struct {
	Ref   chunks.Ref
	Start int64 // offset inside the chunk
	End   int64 // offset inside the chunk, exclusive
}

// explodeRange returns the chunk spans that cover [off, off+n) of a file
// whose content is refs (contiguous from 0). The range is clipped to the
// file's end.
func explodeRange(refs []chunks.Ref, off, n int64) []span {
	if off < 0 || n <= 0 || len(refs) == 0 {
		return nil
	}
	end := off + n
	if last := refs[len(refs)-1].End(); end > last {
		end = last
	}
	if off >= end {
		return nil
	}
	i := sort.Search(len(refs), func(i int) bool { return refs[i].End() > off })
	var out []span
	for ; i < len(refs) && refs[i].Offset < end; i++ {
		r := refs[i]
		out = append(out, span{Ref: r, Start: max(off, r.Offset) - r.Offset, End: min(end, r.End()) - r.Offset})
	}
	return out
}
