package fusefs

import (
	"cmp"
	"runtime/metrics"
	"slices"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
)

// The kernel keeps an inode for every entry it has looked up until it is
// short of memory itself, and go-fuse keeps a node for each: after a full
// `ls -R` of a million files the daemon would hold a million nodes (about
// 600 bytes each with go-fuse's tables). When the Go heap's live bytes
// pass FS.cacheHeap, trimLoop drops the coldest folders (least recently
// listed or looked up in) from the kernel's cache with NotifyEntry, as a
// remote rename does: the kernel forgets their unused entries, go-fuse
// frees the nodes, and the next access looks them up again. Open files
// and working directories keep their entries.

// defaultCacheHeap is the live heap above which folders are dropped from
// the kernel's cache (Options.CacheHeap 0).
const defaultCacheHeap = 160 << 20

// trimEvery is how often trimLoop looks at the heap.
const trimEvery = 5 * time.Second

// trimLoop trims the kernel's cache while the heap is over its budget,
// until done is closed (the server stopped).
func (f *FS) trimLoop(done <-chan struct{}) {
	t := time.NewTicker(trimEvery)
	defer t.Stop()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 && sample[0].Value.Uint64() > uint64(f.cacheHeap) {
			n := f.trim()
			f.log.Debug("heap over budget: dropped cold folders from the kernel's cache", "live", sample[0].Value.Uint64(), "budget", f.cacheHeap, "entries", n)
		}
	}
}

// cachedDir is a folder the kernel knows, as trim sees it.
type cachedDir struct {
	parent   *fs.Inode
	name     string
	used     int64 // dirNode.used
	children int
}

// trim drops the coldest folders holding about half of the entries the
// kernel knows from its cache, and returns how many entries they held.
// The root's own entries stay. Call it outside FUSE handlers (NotifyEntry).
func (f *FS) trim() int {
	var dirs []cachedDir
	total := 0
	var walk func(parent, n *fs.Inode, name string)
	walk = func(parent, n *fs.Inode, name string) {
		kids := n.Children()
		total += len(kids)
		if d, ok := n.Operations().(*dirNode); ok && parent != nil {
			dirs = append(dirs, cachedDir{parent: parent, name: name, used: d.used.Load(), children: len(kids)})
		}
		for name, ch := range kids {
			if ch.IsDir() {
				walk(n, ch, name)
			}
		}
	}
	walk(nil, f.root.EmbeddedInode(), "")
	slices.SortFunc(dirs, func(a, b cachedDir) int { return cmp.Compare(a.used, b.used) })
	dropped := 0
	for _, d := range dirs {
		if dropped >= total/2 {
			break
		}
		d.parent.NotifyEntry(d.name)
		dropped += d.children + 1
	}
	return dropped
}
