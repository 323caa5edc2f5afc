package peers

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/internal/prosodytest"
	"github.com/uberan/latus/meta"
)

// bigVersion commits path as a file of n 1 MiB chunks, forged: the refs
// point at chunks nobody stores, which an index does not care about.
func bigVersion(t testing.TB, db *meta.DB, path string, n int) {
	t.Helper()
	f := meta.FileVersion{Kind: meta.KindFile, Mode: 0o644, MTime: time.Now(), Size: int64(n) << 20}
	var b [8]byte
	for i := range n {
		binary.BigEndian.PutUint64(b[:], uint64(i))
		f.Chunks = append(f.Chunks, chunks.Ref{ID: chunks.Sum(b[:]), Offset: int64(i) << 20, Size: 1 << 20})
	}
	f.Hash = chunks.Sum([]byte(path))
	meta.TestCommit(t, db, meta.Change{Kind: meta.Created, Path: path, File: f})
}

// TestIndexSync syncs metadata through a stock (rate-limited, 256 KiB
// stanzas) Prosody: many files, and single versions far larger than a
// stanza, over the data channel and in-band.
func TestIndexSync(t *testing.T) {
	srv := prosodytest.Start(t)
	cases := []struct {
		name   string
		mod    func(*Options)
		files  int
		refs   int    // chunk refs of one extra version
		via    string // the transport b's status shows
		inline int    // bytes of incompressible inline content per file; 0: a forged chunk
	}{
		{"Direct2000Files", func(*Options) {}, 2000, 0, "direct ", 0},
		{"Direct5000Refs", func(*Options) {}, 0, 5000, "direct ", 0},
		{"Relay2000Files", relayOnly, 2000, 0, "relay " + srv.Proxy65, 0},
		{"InBand200Files", inBandOnly, 200, 0, "in-band", 0},
		{"InBand600Refs", inBandOnly, 0, 600, "in-band", 0},
		{"Direct1000InlineFiles", func(*Options) {}, 1000, 0, "direct ", meta.InlineMax},
		{"InBand60InlineFiles", inBandOnly, 60, 0, "in-band", meta.InlineMax},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			user := fmt.Sprintf("index%d", i)
			srv.Register(t, user, testPass)
			a := newDevice(t, srv, user)
			var changes []meta.Change
			for f := range tc.files {
				content := meta.FileContent([]byte{byte(f)}, time.Now())
				if tc.inline > 0 {
					content = meta.InlineContent(chunks.RandomBytes(uint64(f), tc.inline), time.Now())
				}
				changes = append(changes, meta.Change{Kind: meta.Created, Path: fmt.Sprintf("dir%02d/file-%05d.txt", f%50, f), File: content})
			}
			for d := range 50 {
				if tc.files > 0 {
					changes = append([]meta.Change{{Kind: meta.Created, Path: fmt.Sprintf("dir%02d", d), File: meta.DirContent(time.Now())}}, changes...)
				}
			}
			if len(changes) > 0 {
				meta.TestCommit(t, a.meta, changes...)
			}
			if tc.refs > 0 {
				bigVersion(t, a.meta, "big", tc.refs)
			}
			b := newDevice(t, srv, user, tc.mod)
			meet(t, a, b)
			sa, sb := a.sess(), b.sess()
			want := a.meta.Stats()
			eventually(t, 60*time.Second, "b did not get a's index", func() bool {
				got := b.meta.Stats()
				return got.Files == want.Files && got.Dirs == want.Dirs
			})
			if tc.refs > 0 {
				v, err := b.meta.Lookup("big")
				if err != nil || len(v.Chunks) != tc.refs {
					t.Fatalf("big: %d refs, err %v; want %d", len(v.Chunks), err, tc.refs)
				}
			}
			if tc.inline > 0 {
				// Every byte came with the index: nothing to fetch.
				for f := range tc.files {
					p := fmt.Sprintf("dir%02d/file-%05d.txt", f%50, f)
					v, err := b.meta.Lookup(p)
					if err != nil || !bytes.Equal(v.Inline, chunks.RandomBytes(uint64(f), tc.inline)) {
						t.Fatalf("%s on b: %d inline bytes, err %v", p, len(v.Inline), err)
					}
				}
				if u := b.store.Usage(); u.Chunks != 0 {
					t.Fatalf("b stored %d chunks for inline files", u.Chunks)
				}
			}
			if a.sess() != sa || b.sess() != sb {
				t.Fatal("a session was replaced: the server closed a stream (stanza too large?)")
			}
			if via := b.transportTo(t, a); !strings.HasPrefix(via, tc.via) {
				t.Fatalf("b's data channel to a: %q, want %q", via, tc.via)
			}
		})
	}
}

func (d *testDevice) sess() any {
	d.sw.mu.Lock()
	defer d.sw.mu.Unlock()
	return d.sw.sess
}

func FuzzIndexBody(f *testing.F) {
	c := testIndexCodec(f)
	vs := []meta.FileVersion{{Path: "a", Kind: meta.KindDir, Mode: 0o755, Origin: "0123456789abcdef", Seq: 1}}
	raw, err := encodeVersions(vs)
	if err != nil {
		f.Fatal(err)
	}
	good := binary.BigEndian.AppendUint64(nil, 1)
	good = append(good, 0)
	f.Add(append(good, c.enc.EncodeAll(raw, nil)...))
	f.Add(append(binary.BigEndian.AppendUint64(nil, 9), 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		vs, _, _, err := parseIndexBody(chunks.CodecZstd, data, c.dec, 0)
		if err == nil && len(vs) > maxIndexPage {
			t.Fatalf("%d versions accepted", len(vs))
		}
	})
}
