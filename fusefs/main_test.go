package fusefs

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if _, err := os.Stat("/dev/fuse"); err != nil && os.Getenv("CI") == "" {
		os.Stderr.WriteString("fusefs: /dev/fuse missing, skipping FUSE tests\n")
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}
