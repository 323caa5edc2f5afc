package peers

import (
	"context"
	"errors"
	"testing"
	"time"

	"mellium.im/xmpp/stanza"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

func TestOtherAccountRefused(t *testing.T) {
	srv := startServer(t, "alice", "mallory")
	a := newDevice(t, srv, "alice")
	b := newDevice(t, srv, "alice")
	meet(t, a, b)
	meta.TestWrite(t, a.meta, "secret", []byte("alice's"), time.Now())
	secret := []byte("alice's chunk")
	if _, err := a.store.Put(secret); err != nil {
		t.Fatal(err)
	}
	m := newDevice(t, srv, "mallory", func(o *Options) {
		o.Config.Allow = []string{"alice@" + srv.Domain, "mallory@" + srv.Domain}
	})
	aFull := a.sw.fullJID()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Neither a proxied nor an in-band stream is taken from mallory.
	offer := streamOffer{SID: "s1", Hosts: []streamhost{{JID: aFull, Addr: "127.0.0.1:1"}}}.tokens()
	if err := m.sw.sendIQ(ctx, aFull, stanza.SetIQ, offer, nil); err == nil {
		t.Fatal("mallory's bytestream offer was accepted")
	}
	if err := m.sw.sendIQ(ctx, aFull, stanza.SetIQ, ibbOpen("s2", ibbBlockSize), nil); err == nil {
		t.Fatal("mallory's in-band stream was accepted")
	}
	if n := len(a.sw.ibb.streams); n != 0 {
		t.Fatalf("a holds %d in-band streams", n)
	}
	// The IQs came after mallory's directed presence: a has handled it.
	if a.online(m.id.Device) {
		t.Fatal("a lists mallory's device as a peer")
	}
	// a's data channel refuses mallory's certificate.
	fake := &peer{device: a.id.Device, addrs: a.sw.dataAddrs(), fingerprint: a.id.Fingerprint, ctx: ctx}
	c, _, err := m.sw.dialData(ctx, fake)
	if err == nil {
		c.Write(appendRequest(nil, request{id: 1, chunk: chunks.Sum(secret)}))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var b [1]byte
		_, err = c.Read(b[:])
		c.Close()
	}
	if err == nil {
		t.Fatal("a's data channel answered mallory")
	}
	if _, err := m.meta.Lookup("secret"); err == nil {
		t.Fatal("mallory got alice's history")
	}
}

func TestWrongFingerprintRefused(t *testing.T) {
	srv := startServer(t, "alice")
	a := newDevice(t, srv, "alice")
	b := newDevice(t, srv, "alice", func(o *Options) {
		// Announce a fingerprint with the right device prefix that is not
		// the one of the certificate b presents.
		fp := []byte(o.Identity.Fingerprint)
		fp[63] = "01"[boolInt(fp[63] == '0')]
		o.tune.announceFingerprint = string(fp)
	})
	meet(t, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := a.sw.dialData(ctx, a.peer(t, b)); !errors.Is(err, ErrFingerprint) {
		t.Fatalf("dial b's data channel: %v, want ErrFingerprint", err)
	}
	id, err := b.store.Put([]byte("b's chunk"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.sw.fetchChunk(ctx, a.peer(t, b), id); err == nil {
		t.Fatal("a fetched from b despite its wrong fingerprint")
	}
	// b's real certificate is not the one it announced: a's server refuses it.
	aid, err := a.store.Put([]byte("a's chunk"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.sw.fetchChunk(ctx, b.peer(t, a), aid); err == nil {
		t.Fatal("a served b over a data channel opened with an unannounced certificate")
	}
}

func TestUnavailableDeviceLosesDataChannel(t *testing.T) {
	srv := startServer(t, "alice")
	a := newDevice(t, srv, "alice")
	b := newDevice(t, srv, "alice")
	meet(t, a, b)
	id, err := a.store.Put([]byte("a's chunk"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pa := b.peer(t, a)
	if _, _, err := b.sw.fetchChunk(ctx, pa, id); err != nil {
		t.Fatal(err)
	}
	pa.mu.Lock()
	dc := pa.dc
	pa.mu.Unlock()
	// a sees b leave (as its unavailable presence would tell it).
	a.sw.removePeer(b.sw.fullJID())
	eventually(t, 5*time.Second, "b's data connection to a survived b going unavailable", func() bool { return !dc.alive() })
}
