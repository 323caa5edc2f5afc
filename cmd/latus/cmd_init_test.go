package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/uberan/latus/internal/identity"
	"github.com/uberan/latus/internal/prosodytest"
)

func TestInit(t *testing.T) {
	srv := prosodytest.Start(t)
	srv.Register(t, "alice", "s3cret")
	passFile := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(passFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrongFile := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrongFile, []byte("nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	jid := "alice@" + srv.Domain

	for _, tc := range []struct {
		name    string
		o       initOptions
		env     string
		wantErr string // substring; "" = success
	}{
		{"ok", initOptions{JID: jid, Server: srv.Addr, PasswordFile: passFile, InsecureTLS: true, Allow: []string{jid, "bob@" + srv.Domain}}, "", ""},
		{"password from env", initOptions{JID: jid, Server: srv.Addr, InsecureTLS: true}, "s3cret", ""},
		{"wrong password", initOptions{JID: jid, Server: srv.Addr, PasswordFile: wrongFile, InsecureTLS: true}, "", "wrong password"},
		{"untrusted certificate", initOptions{JID: jid, Server: srv.Addr, PasswordFile: passFile}, "", "--insecure-tls"},
		{"unreachable", initOptions{JID: jid, Server: closed, PasswordFile: passFile, InsecureTLS: true}, "", "cannot reach"},
		{"offline skips the check", initOptions{JID: jid, Server: closed, PasswordFile: passFile, Offline: true}, "", ""},
		{"no password", initOptions{JID: jid, Server: srv.Addr, InsecureTLS: true}, "", "no password"},
		{"bad jid", initOptions{JID: "alice", PasswordFile: passFile}, "", "USER@HOST"},
		{"bad allow", initOptions{JID: jid, PasswordFile: passFile, Allow: []string{"x@y/res"}}, "", "--allow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(envPassword, tc.env)
			dir := t.TempDir()
			cfgFile, state := filepath.Join(dir, "config", "latus", "config.toml"), filepath.Join(dir, "state")
			var out bytes.Buffer
			err := runInit(context.Background(), tc.o, cfgFile, state, &out)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
				}
				if _, err := os.Stat(cfgFile); err == nil {
					t.Fatal("a config was written despite the failure")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(cfgFile)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Fatalf("config mode %v, want 0600", fi.Mode().Perm())
			}
			c, err := loadConfig(cfgFile)
			if err != nil {
				t.Fatal(err)
			}
			if c.XMPP.JID != jid || c.XMPP.Server != tc.o.Server || c.XMPP.InsecureTLS != tc.o.InsecureTLS || len(c.XMPP.Allow) != len(tc.o.Allow) {
				t.Fatalf("config %+v does not match the flags %+v", c.XMPP, tc.o)
			}
			pc, err := c.XMPP.PeersConfig()
			if err != nil || pc.Password != "s3cret" {
				t.Fatalf("password resolves to %q, %v", pc.Password, err)
			}
			id, err := identity.Load(filepath.Join(state, "identity"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), id.Device) {
				t.Fatalf("output does not name the device: %s", out.String())
			}
			// A second init does not overwrite without --force.
			if err := runInit(context.Background(), tc.o, cfgFile, state, &out); err == nil || !strings.Contains(err.Error(), "--force") {
				t.Fatalf("second init: %v", err)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	c, err := loadConfig(filepath.Join(dir, "absent.toml"))
	if err != nil || c.XMPP.Enabled() || c.Retention != defaultRetention() {
		t.Fatalf("absent config: %+v, %v", c, err)
	}
	for _, tc := range []struct {
		name, text string
		want       RetentionConfig
		wantErr    string
	}{
		{"defaults", "[xmpp]\njid = \"a@b\"\n", RetentionConfig{30, 365, 90}, ""},
		{"one key", "[retention]\nkeep_all_days = 7\n", RetentionConfig{7, 365, 90}, ""},
		{"all keys", "[retention]\nkeep_all_days = 1\ndaily_days = 10\ndeleted_days = 0\n", RetentionConfig{1, 10, 0}, ""},
		{"daily shorter than all", "[retention]\nkeep_all_days = 40\ndaily_days = 10\n", RetentionConfig{}, "daily versions"},
		{"negative", "[retention]\ndeleted_days = -1\n", RetentionConfig{}, "negative"},
		{"unknown retention key", "[retention]\nkeep_days = 3\n", RetentionConfig{}, "unknown keys"},
	} {
		t.Run("retention "+tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "retention-"+strings.ReplaceAll(tc.name, " ", "-")+".toml")
			os.WriteFile(p, []byte(tc.text), 0o600)
			c, err := loadConfig(p)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || c.Retention != tc.want {
				t.Fatalf("retention %+v, %v; want %+v", c.Retention, err, tc.want)
			}
		})
	}
	for _, tc := range []struct{ name, text, wantErr string }{
		{"full", "[xmpp]\njid = \"a@b\"\nserver = \"b:5222\"\npassword = \"p\"\ninsecure_tls = true\nallow = [\"a@b\"]\ndata_addr = \"0.0.0.0:7000\"\n", ""},
		{"unknown key", "[xmpp]\njid = \"a@b\"\npasword = \"typo\"\n", "unknown keys"},
		{"bad toml", "[xmpp\n", "read config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".toml")
			os.WriteFile(p, []byte(tc.text), 0o600)
			c, err := loadConfig(p)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.XMPP.JID != "a@b" || !c.XMPP.InsecureTLS || c.XMPP.DataAddr != "0.0.0.0:7000" || len(c.XMPP.Allow) != 1 {
				t.Fatalf("decoded %+v", c.XMPP)
			}
		})
	}
}
