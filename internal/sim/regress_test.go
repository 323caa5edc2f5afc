package sim

import "testing"

// Every engine bug the simulator found, as the run that found it (shrunk
// where the shrink was kept); each passes with the fix. The simulator changed after some of
// these runs were found (time now passes between steps), so they may no
// longer reach their bug: each fix also has a unit test that fails
// without it (chunks TestCollectKeepsCustody; engine
// TestVerifyHandsOverBeforeGivingUp, TestRestoredHolderIsProvedAgain,
// TestOfflineHolderIsReplaced, TestRestoreKeepsTheContent; meta
// TestSinceAfterRestoreServesEverything, TestPullFromRestoredIndex).
func TestRegressions(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{
			// A restored old version's content was kept only by another
			// device's history; that device pruned and collected it
			// (engine.Restore fetches and keeps the content first).
			name: "restore keeps its content",
			cfg:  Config{Seed: 1, Steps: 200, Devices: 3},
		},
		{
			// A writer pruned its old version and collected the only copy
			// of content another device still showed as a conflict copy
			// (chunks.Options.KeepUnreplicated).
			name: "the last copy is not collected",
			cfg:  Config{Seed: 2, Steps: 200, Devices: 4},
		},
		{
			// Collection gave up custody trusting a holder that had been
			// lost for good (chunks.Options.Verify, engine.Verify); then
			// the holder went on counting the giver as a keeper (Verify
			// hands over with release).
			name: "collection verifies the holder",
			cfg:  Config{Seed: 155, Steps: 200, Devices: devicesFor(155)},
		},
		{
			// A lost device still counted as a holder, so replication
			// never restored the second copy (offline holders do not
			// count).
			name: "a lost holder is replaced",
			cfg:  Config{Seed: 3, Steps: 200, Devices: 5, Keep: []int{60, 65, 100, 119}},
		},
		{
			// A device restored from an older copy with the clock set
			// back recorded new versions below the position its peers had
			// reached, so they never pulled them (meta.Since serves the
			// whole index again and continues above the asked position).
			name: "a restored index is pulled again",
			cfg:  Config{Seed: 9, Steps: 200, Devices: 3, Keep: []int{46, 124, 151, 152, 153, 158, 163}},
		},
		{
			// A device that fetched a cached copy was counted as a keeper
			// (the fetch recorded its source as a holder), so replication
			// stopped one copy short and a lost keeper left one (chunks:
			// fetches record no holder).
			name: "a fetch source is no keeper",
			cfg:  Config{Seed: 309, Steps: 200, Devices: 3, Keep: []int{26, 27, 58, 65, 72, 74, 135, 143, 176, 177, 198}},
		},
		{
			name: "restored holder and lost keeper",
			cfg:  Config{Seed: 9, Steps: 200, Devices: 3},
		},
		{
			// A device restored from an older copy while its clock was
			// behind gave out positions its peer had merged past (the
			// lost original had merged the peer's version there), so the
			// peer never pulled its next version (meta.Epoch: each Open
			// is a new epoch, and a peer reads again from its base).
			name: "a restored index in a new epoch",
			cfg:  Config{Seed: 92, Steps: 200, Devices: 2, Keep: []int{71, 74, 76, 85, 101, 155, 157}},
		},
		{name: "restored index, seed 141", cfg: Config{Seed: 141, Steps: 200, Devices: devicesFor(141)}},
		{name: "restored index, seed 377", cfg: Config{Seed: 377, Steps: 200, Devices: devicesFor(377)}},
		{name: "restored index, seed 408", cfg: Config{Seed: 408, Steps: 200, Devices: devicesFor(408)}},
		{name: "restored index, seed 672", cfg: Config{Seed: 672, Steps: 200, Devices: devicesFor(672)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if r := Run(t.Context(), tc.cfg); r.Failure != nil {
				t.Fatalf("%v\n%s", r.Failure, TraceString(r.Trace))
			}
		})
	}
}
