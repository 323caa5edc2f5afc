package peers

import (
	"fmt"

	"mellium.im/xmpp/stanza"
)

// indexPage pages this device's index after since: as many versions as
// fit indexBudget (at least one, so that an oversized version still
// travels), and whether more follow.
func (s *Swarm) indexPage(since uint64) (body []byte, next uint64, more bool, err error) {
	n := 1024
	for {
		vs, nx, err := s.opts.Meta.Since(since, n)
		if err != nil {
			return nil, since, false, err
		}
		body, err = encodeVersions(vs)
		if err != nil {
			return nil, since, false, err
		}
		if len(body) > indexBudget && n > 1 {
			n = max(1, n*indexBudget/len(body)*9/10)
			continue
		}
		return body, nx, nx < s.opts.Meta.IndexSeq(), nil
	}
}

// pull merges p's index from where the last merge from it stopped, page
// by page, until it is caught up.
func (s *Swarm) pull(p *peer) error {
	for {
		pos, err := s.opts.Meta.PeerPos(p.device)
		if err != nil {
			return err
		}
		var page indexPage
		if err := s.sendIQ(p.ctx, p.jid, stanza.GetIQ, element("index", []xmlAttr{attr("since", fmt.Sprint(pos))}, nil), &page); err != nil {
			return fmt.Errorf("index since %d from %s: %w", pos, p.device, err)
		}
		vs, err := page.decode(pos)
		if err != nil {
			return fmt.Errorf("index from %s: %w", p.device, err)
		}
		if len(vs) == 0 {
			return nil
		}
		res, err := s.opts.Meta.Merge(p.device, vs, page.Next)
		if err != nil {
			return fmt.Errorf("merge %d versions from %s: %w", len(vs), p.device, err)
		}
		s.log.Debug("sync: merged", "peer", p.device, "versions", len(vs), "applied", len(res.Applied), "conflicts", len(res.Conflicts), "upTo", page.Next)
		if s.opts.OnMerged != nil && (len(res.Applied) > 0 || len(res.Conflicts) > 0) {
			s.opts.OnMerged(res)
		}
		if len(res.Applied) > 0 {
			// Our index grew: devices that cannot reach p learn it from us.
			s.notifyExcept(p)
		}
		if !page.More {
			return nil
		}
	}
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
