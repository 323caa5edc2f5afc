package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

// TestCluster is a set of devices whose engines talk through memory: each
// device has its own chunk store, meta DB and fetcher, and the network
// delivers keep requests and chunk fetches directly. Devices can be taken
// down and up, and a device can be made to lie.
type TestCluster struct {
	t  testing.TB
	mu sync.Mutex // guards up and liar
	up map[string]bool
	// liar devices answer every keep request with KeepOK and a wrong proof.
	liar map[string]bool
	Devs map[string]*TestDevice
}

// TestDevice is one device of a TestCluster.
type TestDevice struct {
	Name    string
	Store   *chunks.Store
	Meta    *meta.DB
	Fetcher *chunks.Fetcher
	Engine  *Engine
	c       *TestCluster
}

// NewTestCluster starts one device per name, each with a cap of capacity
// stored bytes (0: none) and replicas, all online.
func NewTestCluster(t testing.TB, capacity int64, replicas int, names ...string) *TestCluster {
	return NewTestClusterWith(t, capacity, replicas, nil, names...)
}

// NewTestClusterWith is NewTestCluster whose devices named in keepAll keep
// every chunk (Options.KeepAll).
func NewTestClusterWith(t testing.TB, capacity int64, replicas int, keepAll []string, names ...string) *TestCluster {
	t.Helper()
	c := &TestCluster{t: t, up: map[string]bool{}, liar: map[string]bool{}, Devs: map[string]*TestDevice{}}
	for _, n := range names {
		d := &TestDevice{Name: n, c: c}
		d.Store = chunks.TestStore(t, func(o *chunks.Options) {
			o.Capacity = capacity
			o.HandOff = func(need int64) { d.Engine.HandOff(need) }
		})
		d.Meta = meta.TestDB(t, n)
		d.Fetcher = chunks.NewFetcher(d.Store, chunks.FetcherOptions{Sources: d.sources, Logger: chunks.TestLogger(t)})
		t.Cleanup(func() { d.Fetcher.Close() })
		e, err := New(Options{Store: d.Store, Fetcher: d.Fetcher, Meta: d.Meta, Replicas: replicas, KeepAll: slices.Contains(keepAll, n), Logger: chunks.TestLogger(t), RetryEvery: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		d.Engine = e
		e.SetNetwork(memNet{d})
		c.Devs[n] = d
		c.up[n] = true
	}
	for _, d := range c.Devs {
		d.Engine.Start()
		t.Cleanup(func() { d.Engine.Close() })
	}
	return c
}

// SetUp takes a device off the network (false) or back on (true).
func (c *TestCluster) SetUp(name string, up bool) {
	c.mu.Lock()
	c.up[name] = up
	c.mu.Unlock()
	if up {
		for _, d := range c.Devs {
			if d.Name != name {
				d.Engine.DeviceOnline(name)
			}
		}
	}
}

// SetLiar makes a device claim to keep whatever it is asked to, without
// the bytes.
func (c *TestCluster) SetLiar(name string, liar bool) {
	c.mu.Lock()
	c.liar[name] = liar
	c.mu.Unlock()
}

func (c *TestCluster) isUp(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.up[name]
}

func (c *TestCluster) isLiar(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.liar[name]
}

// Write stores data on device d as a local write and commits it at path,
// as the mount does.
func (d *TestDevice) Write(path string, data []byte) error {
	v, err := meta.PutContent(d.Store, bytes.NewReader(data))
	if err != nil {
		return err
	}
	v.Mode, v.MTime = 0o644, time.Now()
	kind := meta.Modified
	if _, err := d.Meta.Lookup(path); errors.Is(err, meta.ErrNotFound) {
		kind = meta.Created
	}
	vs, err := d.Meta.Commit([]meta.Change{{Kind: kind, Path: path, File: v}})
	if err != nil {
		return err
	}
	d.Engine.Committed(vs)
	return nil
}

// Sync merges from's index into to, as a pull does, and tells to's engine.
func (c *TestCluster) Sync(to, from string) {
	c.t.Helper()
	dt, df := c.Devs[to], c.Devs[from]
	for _, res := range meta.TestSync(c.t, dt.Meta, df.Meta, 0) {
		dt.Engine.Merged(res)
	}
}

// Keepers returns the online and offline devices whose stores keep id.
func (c *TestCluster) Keepers(id chunks.ID) []string {
	var out []string
	for n, d := range c.Devs {
		if in, err := d.Store.Stat(id); err == nil && in.State == chunks.Complete && in.Custody {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func (d *TestDevice) sources() []chunks.Source {
	if !d.c.isUp(d.Name) {
		return nil
	}
	var out []chunks.Source
	for n, o := range d.c.Devs {
		if n != d.Name && d.c.isUp(n) {
			out = append(out, storeSource{o})
		}
	}
	slices.SortFunc(out, func(a, b chunks.Source) int { return strings.Compare(a.Name(), b.Name()) })
	return out
}

type storeSource struct{ d *TestDevice }

func (s storeSource) Name() string { return s.d.Name }

// Fetch hands over the chunk's stored form, as a peer does.
func (s storeSource) Fetch(ctx context.Context, id chunks.ID) (chunks.Verified, error) {
	c, b, err := s.d.Store.ReadStored(id)
	if err != nil {
		return chunks.Verified{}, err
	}
	return chunks.Verify(id, c, b)
}

// memNet is one device's view of the cluster's network.
type memNet struct{ d *TestDevice }

func (m memNet) Online() []string {
	if !m.d.c.isUp(m.d.Name) {
		return nil
	}
	var out []string
	for n := range m.d.c.Devs {
		if n != m.d.Name && m.d.c.isUp(n) {
			out = append(out, n)
		}
	}
	return out
}

func (m memNet) Keep(ctx context.Context, device string, req KeepRequest) ([]KeepAnswer, error) {
	c := m.d.c
	if !c.isUp(m.d.Name) || !c.isUp(device) {
		return nil, fmt.Errorf("%s: offline", device)
	}
	if c.isLiar(device) {
		out := make([]KeepAnswer, len(req.Chunks))
		for i, k := range req.Chunks {
			out[i] = KeepAnswer{ID: k.ID, Code: KeepOK, Proof: chunks.Proof{1}}
		}
		return out, nil
	}
	return c.Devs[device].Engine.HandleKeep(ctx, m.d.Name, req), nil
}

func (m memNet) Notify() {}
