package integration

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestRestoredStateDirFirstEditWins: device A's state dir is copied, A
// writes r.txt three times (B sees the third), the copy is put back and A
// writes "four" at once, before it has heard from B: every device shows
// "four". Before counters followed the clock, B kept "three" forever.
func TestRestoredStateDirFirstEditWins(t *testing.T) {
	acct := newAccount(t)
	a, b := acct.device(t), acct.device(t)
	write := func(d *device, text string) {
		t.Helper()
		if err := os.WriteFile(d.path("r.txt"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shows := func(d *device, text string) func() bool {
		return func() bool {
			got, err := os.ReadFile(d.path("r.txt"))
			return err == nil && string(got) == text
		}
	}
	a.unmount()
	backup := t.TempDir() + "/state"
	if out, err := exec.Command("cp", "-a", a.state, backup).CombinedOutput(); err != nil {
		t.Fatalf("copy the state dir: %v\n%s", err, out)
	}
	a.mount()
	first := time.Now()
	for _, text := range []string{"one", "two", "three"} {
		write(a, text)
		eventually(t, 10*time.Second, "B shows "+text, shows(b, text))
	}
	a.unmount()
	if err := os.RemoveAll(a.state); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", backup, a.state).CombinedOutput(); err != nil {
		t.Fatalf("put the copy back: %v\n%s", err, out)
	}
	// The three writes may share one second, their counters then running
	// up to two ahead of it: the wall-clock rule under test needs the
	// clock past them (the copy has not merged B's index yet).
	if wait := 3*time.Second - time.Since(first); wait > 0 {
		time.Sleep(wait)
	}
	a.mount()
	write(a, "four")
	eventually(t, 20*time.Second, "B shows the restored device's first edit", shows(b, "four"))
	eventually(t, 20*time.Second, "A still shows its edit after merging B's index", shows(a, "four"))
	if got := readFile(t, b.path("r.txt")); got != "four" {
		t.Fatalf("B went back to %q", got)
	}
}
