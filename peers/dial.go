package peers

import (
	"context"
	"net"

	"mellium.im/xmpp/dial"
	"mellium.im/xmpp/jid"
)

// dialServer connects to the account's XMPP server: Config.Server when
// set; else the targets of the domain's _xmpp-client._tcp SRV records
// (RFC 6120 §3.2.1), and when there are none or none answers, the domain
// itself on port 5222 (§3.2.2). It returns the address it tried last, for
// errors. StartTLS follows on the plain connection (no XEP-0368 direct TLS).
func dialServer(ctx context.Context, cfg Config, j jid.JID, res *net.Resolver) (net.Conn, string, error) {
	nd := net.Dialer{Resolver: res}
	if cfg.Server != "" {
		c, err := nd.DialContext(ctx, "tcp", cfg.Server)
		return c, cfg.Server, err
	}
	d := dial.Dialer{Dialer: nd, NoTLS: true}
	if c, err := d.Dial(ctx, "tcp", j); err == nil {
		return c, c.RemoteAddr().String(), nil
	}
	addr := net.JoinHostPort(j.Domainpart(), "5222")
	c, err := nd.DialContext(ctx, "tcp", addr)
	return c, addr, err
}
