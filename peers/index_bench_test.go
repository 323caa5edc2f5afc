package peers

import (
	"fmt"
	"testing"
	"time"

	"github.com/uberan/latus/internal/prosodytest"
	"github.com/uberan/latus/meta"
)

// BenchmarkIndexSync times a new device merging another's index of 2,000
// files through a stock Prosody (10 kB/s per client): over the data
// channel, and in-band as the fallback.
func BenchmarkIndexSync(b *testing.B) {
	srv := prosodytest.Start(b)
	for _, tc := range transports {
		b.Run(tc.name, func(b *testing.B) {
			for i := range b.N {
				b.StopTimer()
				user := fmt.Sprintf("bench%s%d", tc.name, i)
				srv.Register(b, user, testPass)
				a := newDevice(b, srv, user)
				var changes []meta.Change
				for f := range 2000 {
					changes = append(changes, meta.Change{Kind: meta.Created, Path: fmt.Sprintf("file-%05d.txt", f), File: meta.FileContent([]byte{byte(f)}, time.Now())})
				}
				meta.TestCommit(b, a.meta, changes...)
				b.StartTimer()
				d := newDevice(b, srv, user, tc.mod)
				eventually(b, 5*time.Minute, "the index did not arrive", func() bool { return d.meta.Stats().Files == 2000 })
			}
		})
	}
}
