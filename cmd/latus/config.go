package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/uberan/latus/internal/atomicfile"
	"github.com/uberan/latus/meta"
	"github.com/uberan/latus/peers"
)

// envPassword overrides the configured XMPP password.
const envPassword = "LATUS_XMPP_PASSWORD"

// Config is config.toml. With no [xmpp] jid, Latus runs local-only.
type Config struct {
	// Replicas is how many devices should keep every chunk (default 2;
	// all devices when there are fewer).
	Replicas int `toml:"replicas,omitempty"`
	// KeepAll makes this device keep every chunk of every version: a home
	// server or NAS.
	KeepAll   bool            `toml:"keep_all,omitempty"`
	XMPP      XMPPConfig      `toml:"xmpp"`
	Retention RetentionConfig `toml:"retention,omitempty"`
}

// RetentionConfig is the [retention] section: how long this device keeps
// old versions (meta.Policy). Absent keys keep their defaults.
type RetentionConfig struct {
	KeepAllDays int `toml:"keep_all_days,omitempty"` // every version this long; default 30
	DailyDays   int `toml:"daily_days,omitempty"`    // then one a day until this age; default 365
	DeletedDays int `toml:"deleted_days,omitempty"`  // a deleted file's history this long; default 90
}

func defaultRetention() RetentionConfig {
	p := meta.DefaultPolicy()
	return RetentionConfig{KeepAllDays: int(p.KeepAll / day), DailyDays: int(p.Daily / day), DeletedDays: int(p.Deleted / day)}
}

const day = 24 * time.Hour

// Policy returns the section as a checked meta.Policy.
func (r RetentionConfig) Policy() (meta.Policy, error) {
	p := meta.Policy{KeepAll: time.Duration(r.KeepAllDays) * day, Daily: time.Duration(r.DailyDays) * day, Deleted: time.Duration(r.DeletedDays) * day}
	if err := p.Validate(); err != nil {
		return meta.Policy{}, fmt.Errorf("[retention] in config: %w", err)
	}
	return p, nil
}

// maxReplicas bounds replicas in config.toml.
const maxReplicas = 16

// XMPPConfig is the [xmpp] section.
type XMPPConfig struct {
	JID          string   `toml:"jid"`                     // user@host
	Server       string   `toml:"server,omitempty"`        // host:port; default host:5222
	Password     string   `toml:"password,omitempty"`      // or password_file, or $LATUS_XMPP_PASSWORD
	PasswordFile string   `toml:"password_file,omitempty"` // file whose first line is the password
	InsecureTLS  bool     `toml:"insecure_tls,omitempty"`  // accept an untrusted server certificate
	Allow        []string `toml:"allow,omitempty"`         // bare JIDs of other accounts whose devices are peers; the own account always is
	DataAddr     string   `toml:"data_addr,omitempty"`     // data channel listen address; default :0 (every interface)
	DataExternal string   `toml:"data_external,omitempty"` // host:port forwarded to data_addr, announced to peers
	// RequireApproval keeps new devices of the own account pending until
	// "latus devices approve ID"; by default they are accepted on first use.
	RequireApproval bool `toml:"require_approval,omitempty"`
}

// defaultConfigPath is $XDG_CONFIG_HOME/latus/config.toml (~/.config when unset).
func defaultConfigPath() (string, error) {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the config directory: %w", err)
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "latus", "config.toml"), nil
}

// loadConfig reads path. A missing file is a zero Config (local-only) and
// no error; unknown keys are an error, so a typo does not go unnoticed.
func loadConfig(path string) (*Config, error) {
	c := Config{Retention: defaultRetention()}
	md, err := toml.DecodeFile(path, &c)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{Retention: defaultRetention()}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		keys := make([]string, len(un))
		for i, k := range un {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("config %s: unknown keys %s", path, strings.Join(keys, ", "))
	}
	if c.Replicas < 0 || c.Replicas > maxReplicas {
		return nil, fmt.Errorf("config %s: replicas = %d: want 1 to %d (or leave it out for 2)", path, c.Replicas, maxReplicas)
	}
	if _, err := c.Retention.Policy(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &c, nil
}

// writeConfig writes c to path (mode 0600: it may hold a password),
// atomically.
func writeConfig(path string, c *Config) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create config directory: %w", err)
	}
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(c); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if err := atomicfile.Write(path, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// Enabled reports whether an XMPP account is configured.
func (x XMPPConfig) Enabled() bool { return x.JID != "" }

// PeersConfig resolves the password ($LATUS_XMPP_PASSWORD, then password,
// then password_file) and returns the peers configuration.
func (x XMPPConfig) PeersConfig() (peers.Config, error) {
	pass, err := x.password()
	if err != nil {
		return peers.Config{}, err
	}
	return peers.Config{
		JID: x.JID, Password: pass, Server: x.Server, Insecure: x.InsecureTLS,
		Allow: x.Allow, DataAddr: x.DataAddr, DataExternal: x.DataExternal,
		RequireApproval: x.RequireApproval,
	}, nil
}

func (x XMPPConfig) password() (string, error) {
	if p := os.Getenv(envPassword); p != "" {
		return p, nil
	}
	if x.Password != "" {
		return x.Password, nil
	}
	if x.PasswordFile != "" {
		return readPasswordFile(x.PasswordFile)
	}
	return "", fmt.Errorf("no XMPP password for %s: set %s, or password or password_file in [xmpp]", x.JID, envPassword)
}

// readPasswordFile returns the first line of file.
func readPasswordFile(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read password file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return "", fmt.Errorf("password file %s is empty", file)
	}
	return line, nil
}
