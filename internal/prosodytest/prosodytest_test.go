package prosodytest

import (
	"net"
	"testing"
	"time"
)

func TestStartRegisterRestart(t *testing.T) {
	t0 := time.Now()
	s := Start(t)
	t.Logf("prosody ready in %v", time.Since(t0))
	s.Register(t, "alice", "secret")
	if c, err := net.DialTimeout("tcp", s.Proxy65Addr, time.Second); err != nil {
		t.Fatalf("mod_proxy65 not listening on %s: %v", s.Proxy65Addr, err)
	} else {
		c.Close()
	}
	s.Kill()
	if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		c.Close()
		t.Fatal("server still listening after Kill")
	}
	s.Restart(t)
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		t.Fatalf("not listening after Restart: %v", err)
	}
	c.Close()
}
