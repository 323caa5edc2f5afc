package peers

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeOffer(t *testing.T) {
	host := func(attrs string) string { return `<streamhost jid='proxy.example.org' ` + attrs + `/>` }
	good := host(`host='10.0.0.1' port='5000'`)
	cases := []struct {
		name  string
		xml   string
		hosts int // 0: refused with ErrProtocol
	}{
		{"one streamhost", good, 1},
		{"four", strings.Repeat(good, 4), 4},
		{"five", strings.Repeat(good, 5), 0},
		{"none", ``, 0},
		{"port 0", host(`host='h' port='0'`), 0},
		{"port too big", host(`host='h' port='65536'`), 0},
		{"port with a sign", host(`host='h' port='+1'`), 0},
		{"host with a space", host(`host='a b' port='1'`), 0},
		{"no host", host(`port='1'`), 0},
		{"bad jid", `<streamhost jid='@' host='h' port='1'/>`, 0},
		{"other element", `<x/>`, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := `<query xmlns='http://jabber.org/protocol/bytestreams' sid='s-1' mode='tcp'>` + tc.xml + `</query>`
			o, err := decodeFirst([]byte(data), decodeOffer)
			if tc.hosts == 0 {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("accepted: %+v, err %v", o, err)
				}
				return
			}
			if err != nil || len(o.Hosts) != tc.hosts || o.SID != "s-1" {
				t.Fatalf("offer %+v, err %v; want %d hosts", o, err, tc.hosts)
			}
		})
	}
	for _, q := range []string{
		`<query xmlns='http://jabber.org/protocol/bytestreams' sid='a' mode='udp'>` + good + `</query>`,
		`<query xmlns='http://jabber.org/protocol/bytestreams' sid='a b'>` + good + `</query>`,
		`<query xmlns='http://jabber.org/protocol/bytestreams'>` + good + `</query>`,
	} {
		if _, err := decodeFirst([]byte(q), decodeOffer); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s accepted (err %v)", q, err)
		}
	}
}
