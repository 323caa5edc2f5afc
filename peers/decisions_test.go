package peers

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/uberan/latus/internal/devices"
	"github.com/uberan/latus/internal/identity"
)

// bigDecisions returns n decisions as large as a device may pass on: the
// longest account and signer certificate a registry accepts.
func bigDecisions(n int) []devices.Decision {
	ds := make([]devices.Decision, n)
	for i := range ds {
		fp := strings.Repeat("ab", 32)
		ds[i] = devices.Decision{
			Device: fp[:identity.DeviceLen], Account: strings.Repeat("a", 1000) + "@example.org", Fingerprint: fp,
			State: devices.Removed, At: time.Unix(1<<33, int64(i)).UTC(), Signer: bytes.Repeat([]byte{0xff}, 2048), Sig: bytes.Repeat([]byte{1}, 64),
		}
	}
	return ds
}

// TestDecisionPages: however many decisions, each devices IQ stays under
// maxStanza and maxDecisionsPerIQ, and every decision arrives unchanged.
func TestDecisionPages(t *testing.T) {
	for _, n := range []int{1, 7, maxDecisionsPerIQ + 1, 100} {
		ds := bigDecisions(n)
		var got []devices.Decision
		for _, page := range decisionPages(ds) {
			var b bytes.Buffer
			full := jid.MustParse("a-rather-long-user-name@example.org/latus-0123456789abcdef")
			iq := stanza.IQ{ID: strings.Repeat("i", 36), From: full, To: full, Type: stanza.SetIQ}
			if err := writeTokens(&b, iq.Wrap(devicesTokens(page))); err != nil {
				t.Fatal(err)
			}
			if b.Len() > maxStanza || len(page) > maxDecisionsPerIQ {
				t.Fatalf("%d decisions: a page of %d decisions is %d bytes, over %d", n, len(page), b.Len(), maxStanza)
			}
			var q devicesPayload
			b.Reset()
			if err := writeTokens(&b, devicesTokens(page)); err != nil {
				t.Fatal(err)
			}
			if err := unmarshalPayload(b.Bytes(), &q); err != nil {
				t.Fatal(err)
			}
			for _, e := range q.Decisions {
				d, err := e.decision()
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, d)
			}
		}
		if len(got) != n {
			t.Fatalf("%d decisions sent, %d arrived", n, len(got))
		}
		for i := range got {
			if !got[i].At.Equal(ds[i].At) || got[i].Account != ds[i].Account || !bytes.Equal(got[i].Signer, ds[i].Signer) || !bytes.Equal(got[i].Sig, ds[i].Sig) {
				t.Fatalf("decision %d changed on the way: %+v", i, got[i])
			}
		}
	}
}

// FuzzDevicesPayload: no devices IQ, however malformed, makes a registry
// take a decision its own device did not sign.
func FuzzDevicesPayload(f *testing.F) {
	id, err := identity.LoadOrCreate(filepath.Join(f.TempDir(), "identity"))
	if err != nil {
		f.Fatal(err)
	}
	var b bytes.Buffer
	writeTokens(&b, devicesTokens(bigDecisions(2)))
	f.Add(b.Bytes())
	f.Add([]byte(`<devices xmlns='urn:latus:0'><decision device='x' state='removed' at='-1' signer='!' sig=''/></devices>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var q devicesPayload
		if err := unmarshalPayload(data, &q); err != nil {
			return
		}
		var ds []devices.Decision
		for _, e := range q.Decisions {
			if d, err := e.decision(); err == nil {
				ds = append(ds, d)
			}
		}
		r, err := devices.Open("", devices.Self{Identity: id, Account: "alice@x"})
		if err != nil {
			t.Fatal(err)
		}
		if changed, _ := r.Merge(ds); len(changed) > 0 {
			t.Fatalf("a registry took %d forged decisions", len(changed))
		}
	})
}
