package sim

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

// The invariants:
//
//  1. Custody, at every step: every chunk referenced by a version any
//     live device keeps (current or in its history) is complete and in
//     custody in some live device's store. Exempt are chunks whose only
//     keeper was lost for good or restored from an older copy before any
//     other device had proved it keeps them: no protocol can save what
//     never left a device. A chunk the lost device believed another kept
//     (it had a proved holder) and that nobody keeps afterwards is a
//     failure.
//  2. After quiescence (partitions healed, faults off, every pair pulled
//     until no page is left, replication rounds until no work is left):
//     every device shows the same live tree; every live version is in its
//     device's history (retention never drops a current version); every
//     live file holds content that was written by some step; every local
//     write that nothing later replaced is live, at its path or as its
//     conflict copy (writes that never left a lost or restored device are
//     exempt); and without a cap every chunk of a live file is kept by
//     min(Replicas, devices) devices.
//  3. No panic, no unexpected error; quiescence within settleRounds.

const settleRounds = 12

// custodians returns the live devices in custody of id.
func (s *Sim) custodians(id chunks.ID) []string {
	var out []string
	for _, d := range s.devs {
		if in, err := d.store.Stat(id); err == nil && in.State == chunks.Complete && in.Custody {
			out = append(out, d.name)
		}
	}
	return out
}

// checkStep checks invariant 1: the chunks of every live version on a
// live device that no device has superseded, and those of every version
// kept in any history.
func (s *Sim) checkStep() error {
	seen := map[chunks.ID]bool{}
	for _, d := range s.devs {
		es, err := entries(d)
		if err != nil {
			return err
		}
		for _, v := range es {
			for _, r := range v.Chunks {
				if s.exempt[r.ID] || len(s.custodians(r.ID)) > 0 {
					continue
				}
				if s.superseded(v) {
					continue // a stale view: d has not merged what replaced it
				}
				return s.failf("chunk %s of %s, live on %s and superseded nowhere, is in no live device's custody%s", r.ID.Short(), v.Path, d.name, s.whoRefs(r.ID))
			}
		}
		var bad []chunks.ID
		err = d.meta.Refs(func(id chunks.ID) error {
			if !seen[id] && !s.exempt[id] {
				seen[id] = true
				if len(s.custodians(id)) == 0 {
					bad = append(bad, id)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(bad) > 0 {
			return s.failf("chunk %s, referenced by a version in the history %s keeps, is in no live device's custody%s", bad[0].Short(), d.name, s.whoRefs(bad[0]))
		}
	}
	return nil
}

// superseded reports whether some live device recorded a version of v's
// path that comes after v.
func (s *Sim) superseded(v meta.FileVersion) bool {
	for _, o := range s.devs {
		hist, _ := o.meta.History(v.Path)
		for _, h := range hist {
			if h.Vector.Compare(v.Vector) == meta.After {
				return true
			}
		}
	}
	return false
}

// whoRefs describes which versions reference id, for failure messages.
func (s *Sim) whoRefs(id chunks.ID) string {
	var b strings.Builder
	for _, c := range s.commits {
		if slices.ContainsFunc(c.Chunks, func(r chunks.Ref) bool { return r.ID == id }) {
			fmt.Fprintf(&b, "; written as %s by %s:%d", c.Path, c.Origin, c.Seq)
			break
		}
	}
	for _, d := range s.devs {
		in, _ := d.store.Stat(id)
		fmt.Fprintf(&b, "; %s: %s custody=%v holders=%v", d.name, in.State, in.Custody, in.Holders)
	}
	return b.String()
}

func removeAll(p string) error { return os.RemoveAll(p) }

func commitKey(v meta.FileVersion) string {
	return fmt.Sprintf("%s/%d/%s/%s/%v", v.Origin, v.Seq, v.Hash.Short(), v.Path, v.Deleted)
}

// hasVersion reports whether d recorded a version with v's origin,
// sequence and content.
func hasVersion(d *device, v meta.FileVersion) bool {
	hist, err := d.meta.History(v.Path)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(hist, func(h meta.FileVersion) bool {
		return h.Origin == v.Origin && h.Seq == v.Seq && h.Hash == v.Hash
	})
}

// replaceState takes d down and, with fn, rebuilds its state dir and
// brings it back (a restore from an older copy); without fn, d is lost
// for good. What only d kept is accounted for first (invariant 1).
func (s *Sim) replaceState(d *device, fn func() error) error {
	kept, err := d.store.Custodied(func(chunks.Info) bool { return true })
	if err != nil {
		return err
	}
	// Every version not yet lost: afterwards, those no live device has
	// were lost with d's state (its own, or ones only d had merged).
	var mine []meta.FileVersion
	for _, c := range s.commits {
		if !s.lost[commitKey(c)] {
			mine = append(mine, c)
		}
	}
	if fn != nil {
		// Until they run a replication round, the devices that count d
		// as a holder believe in copies d may no longer have.
		for _, o := range s.devs {
			if o == d {
				continue
			}
			held, err := o.store.Custodied(func(in chunks.Info) bool { return slices.Contains(in.Holders, d.name) })
			if err != nil {
				return err
			}
			for _, in := range held {
				if s.atRisk[in.ID] == nil {
					s.atRisk[in.ID] = map[string]bool{}
				}
				s.atRisk[in.ID][o.name] = true
			}
		}
	}
	if err := d.close(); err != nil {
		return err
	}
	s.resetPages(d)
	if fn == nil {
		s.devs = slices.DeleteFunc(s.devs, func(o *device) bool { return o == d })
		delete(s.group, d.name)
		os.RemoveAll(d.dir)
		os.RemoveAll(d.snap)
	} else {
		if err := fn(); err != nil {
			return err
		}
		if err := s.open(d); err != nil {
			return err
		}
	}
	gone := d.name
	for _, c := range mine {
		if !slices.ContainsFunc(s.devs, func(o *device) bool { return hasVersion(o, c) }) {
			s.lost[commitKey(c)] = true
		}
	}
	// Chunks a version kept anywhere references.
	refd := map[chunks.ID]bool{}
	for _, o := range s.devs {
		if err := o.meta.Refs(func(id chunks.ID) error { refd[id] = true; return nil }); err != nil {
			return err
		}
	}
	for _, in := range kept {
		if len(s.custodians(in.ID)) > 0 || s.exempt[in.ID] {
			continue
		}
		if !refd[in.ID] {
			// Referenced by nothing live now; a conflict copy of a
			// superseded version may bring it back, and then it is lost
			// with d like any chunk nobody else kept.
			s.exempt[in.ID] = true
			continue
		}
		var live []string
		for _, h := range in.Holders {
			if s.dev(h) != nil {
				live = append(live, h)
			}
		}
		if len(live) > 0 && s.atRisk[in.ID][d.name] {
			// d believed in a holder restored from an older copy, and ran
			// no replication round (which proves holders again) since.
			s.exempt[in.ID] = true
			continue
		}
		if len(live) > 0 {
			return s.failf("%s believed %v keep chunk %s (proved), but after it went none does%s", d.name, live, in.ID.Short(), s.whoRefs(in.ID))
		}
		s.exempt[in.ID] = true
	}
	s.announce(gone)
	return nil
}

// settle heals the network, turns faults off and runs pulls and
// replication until nothing changes, then checks invariant 2.
func (s *Sim) settle() error {
	clear(s.group)
	s.faults = false
	s.pages = nil
	s.announce()
	quiet := false
	for range settleRounds {
		changed := false
		for _, a := range s.devs {
			for _, b := range s.devs {
				if a == b {
					continue
				}
				c, err := s.syncPair(a, b)
				if err != nil {
					return fmt.Errorf("settle: %s pulls %s: %w", a.name, b.name, err)
				}
				changed = changed || c
			}
		}
		more := false
		for _, d := range s.devs {
			if s.replicate(d) && s.cfg.Capacity == 0 {
				more = true
			}
		}
		if !changed && !more {
			quiet = true
			break
		}
	}
	if !quiet {
		return s.failf("no quiescence within %d rounds of pulls and replication after the network healed", settleRounds)
	}
	if err := s.checkStep(); err != nil {
		return err
	}
	return s.checkSettled()
}

// shape is what a reader sees of a live entry.
type shape struct {
	kind   meta.Kind
	hash   chunks.ID
	target string
}

func (s *Sim) checkSettled() error {
	var ref map[string]shape
	var refDev string
	for _, d := range s.devs {
		es, err := entries(d)
		if err != nil {
			return err
		}
		tree := map[string]shape{}
		for _, v := range es {
			tree[v.Path] = shape{v.Kind, v.Hash, v.Target}
			if !hasVersion(d, v) {
				return s.failf("%s: current version of %s (%s:%d) is not in its history", d.name, v.Path, v.Origin, v.Seq)
			}
			if v.Kind == meta.KindFile {
				if _, ok := s.content[v.Hash]; !ok {
					return s.failf("%s: %s holds content %s that no step wrote", d.name, v.Path, v.Hash.Short())
				}
			}
		}
		if ref == nil {
			ref, refDev = tree, d.name
			continue
		}
		for p, sh := range tree {
			if o, ok := ref[p]; !ok || o != sh {
				return s.failf("after quiescence %s and %s differ at %s: %+v vs %+v (present on %s: %v)", d.name, refDev, p, sh, o, refDev, ok)
			}
		}
		for p := range ref {
			if _, ok := tree[p]; !ok {
				return s.failf("after quiescence %s has %s and %s does not", refDev, p, d.name)
			}
		}
	}
	if err := s.checkWrites(); err != nil {
		return err
	}
	if s.cfg.Capacity == 0 {
		want := min(s.cfg.Replicas, len(s.devs))
		es, err := entries(s.devs[0])
		if err != nil {
			return err
		}
		for _, v := range es {
			for _, r := range v.Chunks {
				if s.exempt[r.ID] {
					continue
				}
				if n := len(s.custodians(r.ID)); n < want {
					return s.failf("after quiescence chunk %s of %s is kept by %d devices, want %d%s", r.ID.Short(), v.Path, n, want, s.whoRefs(r.ID))
				}
			}
		}
	}
	return nil
}

// checkWrites checks that every write nothing later replaced is live, at
// its path or as its conflict copy. d's history (all devices have the
// same after quiescence) says which versions exist: a version lost with a
// device's state may come back in a page that was in flight.
func (s *Sim) checkWrites() error {
	d := s.devs[0]
	es, err := entries(d)
	if err != nil {
		return err
	}
	live := map[string]bool{}
	at := map[string]chunks.ID{}
	for _, v := range es {
		live[commitKey(v)] = true
		at[v.Path] = v.Hash
	}
	hists := map[string][]meta.FileVersion{}
	has := func(v meta.FileVersion) bool {
		h, ok := hists[v.Path]
		if !ok {
			h, _ = d.meta.History(v.Path)
			hists[v.Path] = h
		}
		return slices.ContainsFunc(h, func(x meta.FileVersion) bool {
			return x.Origin == v.Origin && x.Seq == v.Seq && x.Hash == v.Hash && x.Deleted == v.Deleted
		})
	}
	for _, w := range s.commits {
		if w.Deleted || w.Kind != meta.KindFile || live[commitKey(w)] {
			continue
		}
		if !has(w) && s.lost[commitKey(w)] {
			continue // lost with a device's state before it left it
		}
		paths := []string{w.Path, conflictName(w.Path, w.MTime.UTC().Format("20060102-150405"), w.Origin)}
		if h, ok := at[paths[0]]; ok && h == w.Hash {
			continue // the same content won at its path (no conflict)
		}
		if h, ok := at[paths[1]]; ok && h == w.Hash {
			continue
		}
		replaced := slices.ContainsFunc(s.commits, func(u meta.FileVersion) bool {
			return slices.Contains(paths, u.Path) && u.Vector.Compare(w.Vector) == meta.After && has(u)
		})
		if !replaced {
			var hb strings.Builder
			for _, h := range hists[w.Path] {
				fmt.Fprintf(&hb, "; %s:%d deleted=%v %v %s", h.Origin, h.Seq, h.Deleted, h.Vector, h.Hash.Short())
			}
			return s.failf("write %s by %s:%d %v (content %s) was replaced by nothing, yet %s shows neither it nor its conflict copy; its history there%s", w.Path, w.Origin, w.Seq, w.Vector, w.Hash.Short(), d.name, hb.String())
		}
	}
	return nil
}

// conflictName mirrors meta's naming of a conflict copy (names here are
// short, so never shortened).
func conflictName(p, stamp, device string) string {
	dir, name := "", p
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		dir, name = p[:i+1], p[i+1:]
	}
	ext := ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		ext = name[i:]
	}
	return dir + strings.TrimSuffix(name, ext) + ".sync-conflict-" + stamp + "-" + device + ext
}

// replicate runs one replication round on d, which proves again the
// holders that came online: d no longer believes blindly.
func (s *Sim) replicate(d *device) bool {
	more := d.eng.ReplicateOnce(s.ctx)
	for _, b := range s.atRisk {
		delete(b, d.name)
	}
	return more
}
