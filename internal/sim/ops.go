package sim

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/engine"
	"github.com/uberan/latus/meta"
)

const maxDevices = 6

// kind is what one step does.
type kind int

const (
	opWrite kind = iota
	opAppend
	opMkdir
	opRename
	opDelete
	opRestore
	opPin
	opUnpin
	opImport
	opRead
	opPull
	opDeliver
	opReplicate
	opPartition
	opHeal
	opCrash
	opSnapshot
	opRestoreSnap
	opLose
	opJoin
	opClock
	opPrune
	opCollect
	opSettle
	numKinds
)

var kindNames = [numKinds]string{"write", "append", "mkdir", "rename", "delete", "restore", "pin", "unpin", "import", "read",
	"pull", "deliver", "replicate", "partition", "heal", "crash", "snapshot", "restore-snapshot", "lose", "join", "clock", "prune", "collect", "settle"}

func (k kind) String() string { return kindNames[k] }

// weights of each kind when steps are drawn.
var weights = [numKinds]int{
	opWrite: 14, opAppend: 4, opMkdir: 4, opRename: 4, opDelete: 4, opRestore: 2, opPin: 2, opUnpin: 1, opImport: 2, opRead: 4,
	opPull: 14, opDeliver: 14, opReplicate: 10, opPartition: 2, opHeal: 2, opCrash: 2, opSnapshot: 1, opRestoreSnap: 1,
	opLose: 1, opJoin: 1, opClock: 2, opPrune: 2, opCollect: 2, opSettle: 2,
}

type step struct {
	idx  int
	kind kind
}

func drawSteps(r *rand.Rand, n int) []step {
	total := 0
	for _, w := range weights {
		total += w
	}
	out := make([]step, n)
	for i := range out {
		x := r.IntN(total)
		k := kind(0)
		for ; x >= weights[k]; k++ {
			x -= weights[k]
		}
		out[i] = step{i, k}
	}
	return out
}

// pick returns a random live device.
func (s *Sim) pick() *device { return s.devs[s.rng.IntN(len(s.devs))] }

// entries lists d's live tree: every live version, directories first.
func entries(d *device) ([]meta.FileVersion, error) {
	var out []meta.FileVersion
	var walk func(dir string) error
	walk = func(dir string) error {
		vs, err := d.meta.List(dir)
		if err != nil {
			return err
		}
		for _, v := range vs {
			out = append(out, v)
			if v.Kind == meta.KindDir {
				if err := walk(v.Path); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return out, walk("")
}

func pickOf(r *rand.Rand, vs []meta.FileVersion, keep func(meta.FileVersion) bool) (meta.FileVersion, bool) {
	var c []meta.FileVersion
	for _, v := range vs {
		if keep(v) {
			c = append(c, v)
		}
	}
	if len(c) == 0 {
		return meta.FileVersion{}, false
	}
	return c[r.IntN(len(c))], true
}

func isFile(v meta.FileVersion) bool { return v.Kind == meta.KindFile }
func isDir(v meta.FileVersion) bool  { return v.Kind == meta.KindDir }

// dirOf picks a live directory of d ("" = root) to put a new entry in.
func (s *Sim) dirOf(es []meta.FileVersion) string {
	if s.rng.IntN(3) == 0 {
		return ""
	}
	if v, ok := pickOf(s.rng, es, isDir); ok {
		return v.Path
	}
	return ""
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// newContent draws file content: mostly small, sometimes several chunks,
// sometimes the same bytes as an earlier write (dedup).
func (s *Sim) newContent() []byte {
	if len(s.content) > 0 && s.rng.IntN(8) == 0 {
		ids := make([]chunks.ID, 0, len(s.content))
		for id := range s.content {
			ids = append(ids, id)
		}
		slices.SortFunc(ids, func(a, b chunks.ID) int { return bytes.Compare(a[:], b[:]) })
		return s.content[ids[s.rng.IntN(len(ids))]]
	}
	n := 1 + s.rng.IntN(48<<10)
	if s.rng.IntN(12) == 0 {
		n = 300<<10 + s.rng.IntN(900<<10)
	}
	return chunks.RandomBytes(s.rng.Uint64(), n)
}

// benign reports errors a user operation may meet without anything being
// wrong: no room, a path that changed under it, an unreachable chunk.
func benign(err error) bool {
	for _, e := range []error{chunks.ErrFull, chunks.ErrUnavailable, meta.ErrNotFound, meta.ErrExists, meta.ErrNotDir, meta.ErrNotEmpty, meta.ErrInvalidPath, engine.ErrNotPinned, engine.ErrPinnedAbove, errDropped} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// commit puts the contents (path → bytes; nil = a change with no
// content) and commits changes on d, as a local writer does: hold, put,
// commit, release, then the engine's hook.
func (s *Sim) commit(d *device, changes []meta.Change, data [][]byte) error {
	release := d.store.Hold()
	defer release()
	for i, b := range data {
		if b == nil {
			continue
		}
		f, err := meta.PutContent(d.store, bytes.NewReader(b))
		if err != nil {
			return err
		}
		f.Mode, f.MTime = 0o644, s.clock
		changes[i].File = f
		s.content[f.Hash] = b
	}
	vs, err := d.meta.Commit(changes)
	if err != nil {
		return err
	}
	s.record(vs...)
	release()
	d.eng.Committed(vs)
	return nil
}

// apply runs one step and describes it.
func (s *Sim) apply(k kind) (string, error) {
	s.stepOp = k.String()
	d := s.pick()
	es, err := entries(d)
	if err != nil {
		return k.String(), err
	}
	desc := fmt.Sprintf("%s on %s", k, d.name)
	var opErr error
	switch k {
	case opWrite, opImport:
		n := 1
		if k == opImport {
			n = 2 + s.rng.IntN(5)
		}
		var cs []meta.Change
		var data [][]byte
		for i := range n {
			p := join(s.dirOf(es), fmt.Sprintf("f%d", s.rng.IntN(6)))
			if k == opWrite && s.rng.IntN(2) == 0 {
				if v, ok := pickOf(s.rng, es, isFile); ok {
					p = v.Path
				}
			}
			ck := meta.Created
			if _, err := d.meta.Lookup(p); err == nil {
				ck = meta.Modified
			}
			if slices.ContainsFunc(cs, func(c meta.Change) bool { return c.Path == p }) {
				p = fmt.Sprintf("%s-%d", p, i)
				ck = meta.Created
			}
			cs = append(cs, meta.Change{Kind: ck, Path: p})
			data = append(data, s.newContent())
		}
		desc += fmt.Sprintf(" %d file(s), first %s", n, cs[0].Path)
		opErr = s.commit(d, cs, data)
	case opAppend:
		v, ok := pickOf(s.rng, es, isFile)
		if !ok {
			break
		}
		old, known := s.content[v.Hash]
		if !known {
			return desc, s.failf("%s: %s has content %s that was never written", d.name, v.Path, v.Hash.Short())
		}
		b := append(slices.Clone(old), chunks.RandomBytes(s.rng.Uint64(), 1+s.rng.IntN(8<<10))...)
		desc += " " + v.Path
		opErr = s.commit(d, []meta.Change{{Kind: meta.Modified, Path: v.Path}}, [][]byte{b})
	case opMkdir:
		p := join(s.dirOf(es), fmt.Sprintf("d%d", s.rng.IntN(3)))
		desc += " " + p
		opErr = s.commit(d, []meta.Change{{Kind: meta.Created, Path: p, File: meta.FileVersion{Kind: meta.KindDir, Mode: 0o755, MTime: s.clock}}}, []([]byte){nil})
	case opRename:
		v, ok := pickOf(s.rng, es, func(meta.FileVersion) bool { return true })
		if !ok {
			break
		}
		to := join(s.dirOf(es), fmt.Sprintf("%c%d", "fd"[s.rng.IntN(2)], s.rng.IntN(6)))
		desc += fmt.Sprintf(" %s → %s", v.Path, to)
		opErr = s.commit(d, []meta.Change{{Kind: meta.Renamed, From: v.Path, Path: to, File: meta.FileVersion{MTime: s.clock}}}, []([]byte){nil})
	case opDelete:
		v, ok := pickOf(s.rng, es, func(meta.FileVersion) bool { return true })
		if !ok {
			break
		}
		desc += " " + v.Path
		opErr = s.commit(d, []meta.Change{{Kind: meta.Deleted, Path: v.Path, File: meta.FileVersion{MTime: s.clock}}}, []([]byte){nil})
	case opRestore:
		v, ok := pickOf(s.rng, es, isFile)
		if !ok {
			break
		}
		hist, err := d.meta.History(v.Path)
		if err != nil {
			return desc, err
		}
		n := 1 + s.rng.IntN(len(hist))
		desc += fmt.Sprintf(" %s version %d of %d", v.Path, n, len(hist))
		rv, err := d.eng.Restore(s.ctx, v.Path, n)
		if err == nil {
			s.record(rv)
		}
		opErr = err
	case opPin, opUnpin:
		mode := engine.Pin
		if k == opUnpin {
			mode = engine.Unpin
		}
		p := ""
		if v, ok := pickOf(s.rng, es, func(meta.FileVersion) bool { return true }); ok && s.rng.IntN(3) > 0 {
			p = v.Path
		}
		desc += fmt.Sprintf(" %q", p)
		opErr = d.eng.Fetch(s.ctx, p, mode, nil)
	case opRead:
		v, ok := pickOf(s.rng, es, isFile)
		if !ok {
			break
		}
		desc += " " + v.Path
		buf := v.Inline // none of the store's business: the record holds it
		for _, r := range v.Chunks {
			b, err := d.fetcher.Get(s.ctx, r.ID)
			if err != nil {
				opErr = err
				break
			}
			buf = append(buf, b...)
		}
		if opErr == nil && chunks.Sum(buf) != v.Hash {
			return desc, s.failf("%s reads %s: %d bytes hashing to %s, version says %s", d.name, v.Path, len(buf), chunks.Sum(buf).Short(), v.Hash.Short())
		}
	case opPull:
		from := s.pick()
		if from == d {
			break
		}
		desc = fmt.Sprintf("pull %s ← %s", d.name, from.name)
		if s.connected(d.name, from.name) {
			opErr = s.pull(d, from)
		}
	case opDeliver:
		if len(s.pages) == 0 {
			desc = "deliver: nothing queued"
			break
		}
		i := s.rng.IntN(len(s.pages))
		p := s.pages[i]
		desc = fmt.Sprintf("deliver page %s → %s (%d versions to %d)", p.from, p.to, len(p.vs), p.upTo)
		if s.chance(0.05) {
			s.pages = slices.Delete(s.pages, i, i+1)
			desc += ", dropped"
			break
		}
		opErr = s.deliver(i)
	case opReplicate:
		desc = "replicate on " + d.name
		s.replicate(d)
	case opPartition:
		for _, o := range s.devs {
			s.group[o.name] = s.rng.IntN(2)
		}
		desc = fmt.Sprintf("partition %v", s.group)
		s.announce()
	case opHeal:
		desc = "heal"
		clear(s.group)
		s.announce()
	case opCrash:
		desc = "crash and restart " + d.name
		if err := d.close(); err != nil {
			return desc, err
		}
		s.resetPages(d)
		opErr = s.open(d)
		s.announce(d.name)
	case opSnapshot:
		desc = "snapshot " + d.name
		d.snap = d.dir + ".snap"
		if err := removeAll(d.snap); err != nil {
			return desc, err
		}
		// Local commits are group-committed in the background: make them
		// durable first, so the copy does not race a batch commit.
		if err := errors.Join(d.store.Sync(), d.meta.Sync()); err != nil {
			return desc, err
		}
		opErr = copyDir(d.dir, d.snap)
	case opRestoreSnap:
		if d.snap == "" {
			desc = "restore " + d.name + ": no snapshot"
			break
		}
		desc = "restore " + d.name + " from its snapshot"
		opErr = s.replaceState(d, func() error {
			if err := removeAll(d.dir); err != nil {
				return err
			}
			return copyDir(d.snap, d.dir)
		})
	case opLose:
		if len(s.devs) <= 2 {
			desc = "lose: too few devices"
			break
		}
		desc = "lose " + d.name + " for good"
		opErr = s.replaceState(d, nil)
	case opJoin:
		if len(s.devs) >= maxDevices {
			desc = "join: enough devices"
			break
		}
		nd, err := s.newDevice()
		if err != nil {
			return desc, err
		}
		desc = "join " + nd.name
		s.announce()
	case opClock:
		var jump time.Duration
		if s.rng.IntN(3) == 0 {
			jump = -time.Duration(s.rng.IntN(48)) * time.Hour
		} else {
			jump = time.Duration(s.rng.IntN(60*24)) * time.Hour
		}
		s.clock = s.clock.Add(jump)
		desc = fmt.Sprintf("clock %+v → %s", jump, s.clock.Format(time.RFC3339))
	case opPrune:
		pol := meta.Policy{KeepAll: 24 * time.Hour, Daily: 7 * 24 * time.Hour, Deleted: 3 * 24 * time.Hour}
		if _, err := d.meta.Prune(pol, s.clock, false); err != nil {
			return desc, err
		}
		_, opErr = d.store.Collect(false)
	case opCollect:
		_, opErr = d.store.Collect(false)
	case opSettle:
		desc = "settle"
		return desc, s.settle()
	}
	s.stepOp = desc
	if opErr != nil && !benign(opErr) {
		return desc, fmt.Errorf("%s: %w", desc, opErr)
	}
	return desc, nil
}

// announce tells every engine which devices became reachable since the
// last call, as presence does; gone names a device that went down and
// comes back (a crash, a restore), so its pairs count as new.
func (s *Sim) announce(gone ...string) {
	for p := range s.conn {
		if slices.Contains(gone, p[0]) || slices.Contains(gone, p[1]) || !s.connected(p[0], p[1]) {
			delete(s.conn, p)
		}
	}
	for _, a := range s.devs {
		for _, b := range s.devs {
			p := [2]string{a.name, b.name}
			if s.connected(a.name, b.name) && !s.conn[p] {
				s.conn[p] = true
				a.eng.DeviceOnline(b.name)
			}
		}
	}
}

// record notes versions a local commit made. A version identical to one
// lost with a device's state exists again.
func (s *Sim) record(vs ...meta.FileVersion) {
	for _, v := range vs {
		delete(s.lost, commitKey(v))
	}
	s.commits = append(s.commits, vs...)
}

// resetPages drops the pages in flight to or from d: its connections died
// with the process. (A page that a restored device asked for before the
// restore would move its position past versions it no longer has; the
// real protocol answers on the connection that asked.)
func (s *Sim) resetPages(d *device) {
	s.pages = slices.DeleteFunc(s.pages, func(p page) bool { return p.to == d.name || p.from == d.name })
}
