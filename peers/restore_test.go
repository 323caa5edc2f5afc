package peers

import (
	"testing"
	"time"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

// A device whose state dir was restored from an older copy announces an
// index position below the one this device merged up to; the next pull
// reads its index from the start, so the versions it makes next arrive
// (before, they sat below the remembered position forever).
func TestPullStartsOverWhenAnIndexGoesBack(t *testing.T) {
	srv := startServer(t, "alice")
	a := newDevice(t, srv, "alice")
	b := newDevice(t, srv, "alice")
	meet(t, a, b)
	for _, text := range []string{"one", "two", "three"} {
		meta.TestWrite(t, a.meta, "r.txt", []byte(text), time.Now())
	}
	a.sw.Notify()
	eventually(t, 10*time.Second, "b never merged a's three versions", func() bool {
		pos, _ := b.meta.PeerPos(a.id.Device)
		return pos == a.meta.IndexSeq()
	})
	a.sw.Close()
	eventually(t, 10*time.Second, "b still sees a online", func() bool { return !b.online(a.id.Device) })

	// a comes back with an older copy of its history: here, none at all.
	restored := &testDevice{t: t, dir: a.dir, id: a.id, meta: meta.TestDB(t, a.id.Device), store: chunks.TestStore(t)}
	restored.opts = a.opts
	restored.opts.Meta, restored.opts.Store = restored.meta, restored.store
	four := meta.TestWrite(t, restored.meta, "four.txt", []byte("four"), time.Now())
	if pos, _ := b.meta.PeerPos(a.id.Device); restored.meta.IndexSeq() >= pos {
		t.Fatalf("the restored index (%d) is not behind b's position (%d): the test proves nothing", restored.meta.IndexSeq(), pos)
	}
	restored.start()
	eventually(t, 10*time.Second, "b never pulled the restored device's new version", func() bool {
		v, err := b.meta.Lookup("four.txt")
		return err == nil && v.Hash == four.Hash
	})
}
