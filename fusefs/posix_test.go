package fusefs

import (
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"
)

// skipped lists posixtest cases that do not apply, and why.
var skipped = map[string]string{
	"Link":                "hard links are refused on purpose (ENOTSUP)",
	"LinkUnlinkRename":    "needs hard links",
	"NlinkZero":           "needs hard links",
	"FcntlFlockLocksFile": "no file locking across the daemon yet",
	"XAttr":               "only the user.latus.* attributes exist",
	"XAttrLarge":          "only the user.latus.* attributes exist",
	"OpenSymlinkRace":     "runs 10 s (it passes); SymlinkReadlink and FstatDeleted cover it",
	"RenameOpenDir":       "fstat of a renamed-over open dir: the node has no version left",
}

func TestPosix(t *testing.T) {
	for name, fn := range posixtest.All {
		t.Run(name, func(t *testing.T) {
			if why, ok := skipped[name]; ok {
				t.Skip(why)
			}
			m := TestMount(t)
			fn(t, m.Dir)
		})
	}
}
