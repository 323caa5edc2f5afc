package peers

import (
	"fmt"
	"testing"
	"time"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

// A device whose state dir was restored from an older copy gives out
// index positions again that b already merged up to. With one new
// version, its announced position is below b's and b reads it from the
// start; with more new versions than b had merged, the announced position
// has passed b's, and only the new epoch (meta.Epoch) makes b read from
// the copy's last position, so the versions in between arrive too.
func TestPullAfterAnIndexWentBack(t *testing.T) {
	for _, writes := range []int{1, 5} {
		t.Run(fmt.Sprintf("%d new versions", writes), func(t *testing.T) {
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

			// a comes back with an older copy of its history: here, none
			// at all (its clock stands still, as one set back would).
			restored := &testDevice{t: t, dir: a.dir, id: a.id, meta: meta.TestDB(t, a.id.Device), store: chunks.TestStore(t)}
			restored.opts = a.opts
			restored.opts.Meta, restored.opts.Store = restored.meta, restored.store
			var made []meta.FileVersion
			for i := range writes {
				made = append(made, meta.TestWrite(t, restored.meta, fmt.Sprintf("new%d.txt", i), []byte{byte(i)}, time.Now()))
			}
			pos, _ := b.meta.PeerPos(a.id.Device)
			if ahead := restored.meta.IndexSeq() >= pos; ahead != (writes > 3) {
				t.Fatalf("restored index at %d, b's position %d: the case proves nothing", restored.meta.IndexSeq(), pos)
			}
			restored.start()
			eventually(t, 10*time.Second, "b never pulled every version the restored device made", func() bool {
				for _, want := range made {
					if v, err := b.meta.Lookup(want.Path); err != nil || v.Hash != want.Hash {
						return false
					}
				}
				return true
			})
		})
	}
}
