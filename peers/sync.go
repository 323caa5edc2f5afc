package peers

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/uberan/latus/meta"

	"mellium.im/xmpp/stanza"
)

// indexPage pages this device's index after since: as many versions as
// fit budget compressed (at least one, so that an oversized version still
// travels), and whether more follow. hint remembers how many fit last time.
func (s *Swarm) indexPage(since uint64, budget int, hint *atomic.Int64) (body []byte, next uint64, more bool, err error) {
	// Start near the size that fit last time: each retry reads the index again.
	n := min(maxIndexPage, int(hint.Load())*5/4+16)
	for {
		vs, nx, err := s.opts.Meta.Since(since, n)
		if err != nil {
			return nil, since, false, err
		}
		raw, err := encodeVersions(vs)
		if err != nil {
			return nil, since, false, err
		}
		if len(raw) > maxIndexRaw && n > 1 {
			n = max(1, n/2)
			continue
		}
		body = s.index.enc.EncodeAll(raw, nil)
		if len(body) > budget && n > 1 {
			n = max(1, n*budget/len(body)*9/10)
			continue
		}
		hint.Store(int64(len(vs)))
		return body, nx, nx < s.opts.Meta.IndexSeq(), nil
	}
}

// mergeBatch is how many versions pull gathers (over several pages)
// before merging them in one transaction: each merge is a synced commit.
const mergeBatch = 16 << 10

// pull merges p's index from where the last merge from it stopped until
// it is caught up. The next page is asked for while the last ones merge.
func (s *Swarm) pull(p *peer) error {
	pos, err := s.opts.Meta.PullFrom(p.device, p.epoch)
	if err != nil {
		return err
	}
	if seq := p.seq.Load(); seq < pos {
		// Its index is behind what we merged from it: its state dir was
		// restored from an older copy. Read it again from the start, or
		// the versions it makes next would sit below our position forever.
		s.log.Warn("sync: a device's index went back (state dir restored?); reading it again from the start", "peer", p.device, "announced", seq, "merged", pos)
		pos = 0
	}
	type fetched struct {
		vs   []meta.FileVersion
		next uint64
		more bool
		err  error
	}
	ctx, cancel := context.WithCancel(p.ctx)
	pages := make(chan fetched, 4)
	done := make(chan struct{})
	defer func() {
		cancel()
		<-done
	}()
	go func() {
		defer close(done)
		defer close(pages)
		for since := pos; ; {
			vs, next, more, err := s.fetchIndex(ctx, p, since)
			select {
			case pages <- fetched{vs, next, more, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || !more {
				return
			}
			since = next
		}
	}()
	var batch []meta.FileVersion
	for f := range pages {
		if f.err != nil {
			return f.err
		}
		if len(f.vs) > 0 {
			batch = append(batch, f.vs...)
			pos = f.next
		}
		if len(batch) > 0 && (len(batch) >= mergeBatch || !f.more || len(pages) == 0) {
			if err := s.merge(p, batch, pos); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return nil
}

func (s *Swarm) merge(p *peer, vs []meta.FileVersion, upTo uint64) error {
	res, err := s.opts.Meta.MergeAt(p.device, p.epoch.ID, vs, upTo)
	if err != nil {
		return fmt.Errorf("merge %d versions from %s: %w", len(vs), p.device, err)
	}
	s.log.Debug("sync: merged", "peer", p.device, "versions", len(vs), "applied", len(res.Applied), "conflicts", len(res.Conflicts), "upTo", upTo)
	if s.opts.OnMerged != nil && (len(res.Applied) > 0 || len(res.Conflicts) > 0) {
		s.opts.OnMerged(res)
	}
	if len(res.Applied) > 0 {
		// Our index grew: devices that cannot reach p learn it from us.
		s.notifyExcept(p)
	}
	return nil
}

func (s *Swarm) notifyExcept(except *peer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.peers {
		if p != except {
			p.poke(p.notifyCh)
		}
	}
}

func (s *Swarm) sendNotify(p *peer) error {
	seq := s.opts.Meta.IndexSeq()
	return s.sendIQ(p.ctx, p.jid, stanza.SetIQ, element("notify", []xmlAttr{attr("seq", fmt.Sprint(seq))}, nil), nil)
}
