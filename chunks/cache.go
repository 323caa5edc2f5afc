package chunks

import (
	"container/list"
	"sync"
)

// memCache is an LRU of plain chunk bytes bounded in bytes. The slices it
// hands out are shared: nobody modifies them.
type memCache struct {
	mu   sync.Mutex // guards everything below
	max  int64      // <= 0: disabled
	used int64
	ll   *list.List // of *cacheItem, most recent at the front
	m    map[ID]*list.Element
}

type cacheItem struct {
	id   ID
	data []byte
}

func newMemCache(max int64) *memCache {
	return &memCache{max: max, ll: list.New(), m: make(map[ID]*list.Element)}
}

func (c *memCache) get(id ID) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[id]
	if !ok {
		return nil, false
	}
	c.ll.MoveToFront(el)
	return el.Value.(*cacheItem).data, true
}

func (c *memCache) add(id ID, data []byte) {
	n := int64(len(data))
	if c.max <= 0 || n > c.max/2 { // one chunk must not flush the whole cache
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[id]; ok {
		c.ll.MoveToFront(el)
		return
	}
	for c.used+n > c.max {
		c.removeElem(c.ll.Back())
	}
	c.m[id] = c.ll.PushFront(&cacheItem{id: id, data: data})
	c.used += n
}

func (c *memCache) remove(id ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[id]; ok {
		c.removeElem(el)
	}
}

func (c *memCache) removeElem(el *list.Element) {
	it := c.ll.Remove(el).(*cacheItem)
	delete(c.m, it.id)
	c.used -= int64(len(it.data))
}

func (c *memCache) size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
