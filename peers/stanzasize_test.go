package peers

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/engine"
)

// TestStanzaSizes builds the largest stanza of each kind Latus sends and
// checks it stays under maxStanza, the bound that keeps every server's
// size limit and a throttled stream's latency out of the picture.
func TestStanzaSizes(t *testing.T) {
	full := jid.MustParse("a-rather-long-user-name@example.org/latus-0123456789abcdef")
	ids := make([]chunks.ID, engine.MaxKeepChunks)
	keep := engine.KeepRequest{Release: true, Nonce: chunks.Nonce{1}}
	var kept []engine.KeepAnswer
	for i := range ids {
		ids[i] = chunks.Sum([]byte{byte(i), byte(i >> 8)})
		keep.Chunks = append(keep.Chunks, engine.KeepChunk{ID: ids[i], Size: maxStored})
		kept = append(kept, engine.KeepAnswer{ID: ids[i], Code: engine.KeepOK, Proof: chunks.Proof{2}})
	}
	longAddr := strings.Repeat("h", maxAddrsLen/maxAddrs-7) + ":65535"
	var addrs []string
	for range maxAddrs {
		addrs = append(addrs, longAddr)
	}
	fp := strings.Repeat("ab", 32)
	cases := []struct {
		name    string
		payload xml.TokenReader
	}{
		{"in-band data", wrapNS(nsIBB, "data", []xml.Attr{attr("sid", strings.Repeat("s", 64)), attr("seq", "65535")}, chars(base64.StdEncoding.EncodeToString(make([]byte, ibbBlockSize))))},
		{"in-band open", ibbOpen(strings.Repeat("s", 64), ibbBlockSize)},
		{"streamhost offer", streamOffer{SID: strings.Repeat("s", 64), Hosts: []streamhost{{JID: full, Addr: longAddr}}}.tokens()},
		{"keep", keepRequestTokens(keep)},
		{"kept", keptTokens(keep.Nonce, kept)},
		{"presence", presencePayload{Device: fp[:16], Fingerprint: fp, Seq: 1 << 62, Epoch: 1<<64 - 1, Base: 1 << 62, Addrs: joinAddrs(addrs), Name: strings.Repeat("n", maxNameLen)}.tokens()},
		{"dial", element("dial", []xml.Attr{attr("addrs", joinAddrs(addrs))}, nil)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			iq := stanza.IQ{ID: strings.Repeat("i", 36), From: full, To: full, Type: stanza.ResultIQ}
			if err := writeTokens(&b, iq.Wrap(tc.payload)); err != nil {
				t.Fatal(err)
			}
			if b.Len() > maxStanza {
				t.Fatalf("%d bytes, over %d", b.Len(), maxStanza)
			}
			t.Logf("%d bytes", b.Len())
		})
	}
}
