package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"mellium.im/xmpp/jid"

	"github.com/uberan/latus/internal/identity"
	"github.com/uberan/latus/peers"
)

// initOptions are the flags of latus init.
type initOptions struct {
	JID          string
	Server       string
	PasswordFile string
	Allow        []string
	InsecureTLS  bool
	DataAddr     string
	DataExternal string
	Offline      bool
	Force        bool
}

func (o *initOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.JID, "jid", "", "XMPP account USER@HOST (one account for all your devices)")
	fs.StringVar(&o.Server, "server", "", "XMPP server HOST:PORT (default: the JID's host, port 5222)")
	fs.StringVar(&o.PasswordFile, "password-file", "", "file whose first line is the XMPP password (else $"+envPassword+")")
	fs.StringArrayVar(&o.Allow, "allow", nil, "bare JID of another account whose devices are peers too (repeatable; your own account always is)")
	fs.BoolVar(&o.InsecureTLS, "insecure-tls", false, "accept an untrusted server certificate (self-signed servers only)")
	fs.StringVar(&o.DataAddr, "data-addr", "", "listen address of the data channel (default :0, every interface)")
	fs.StringVar(&o.DataExternal, "data-external", "", "HOST:PORT forwarded to the data channel from outside this network, announced to peers")
	fs.BoolVar(&o.Offline, "offline", false, "do not try to log in to check the account")
	fs.BoolVar(&o.Force, "force", false, "replace an existing config file")
}

// newInitCommand is `latus init`. paths returns the config file and the
// state directory as the global --config and --state flags set them; the
// root command passes its resolver in.
func newInitCommand(paths func() (configFile, stateDir string, err error)) *cobra.Command {
	var o initOptions
	cmd := &cobra.Command{
		Use:   "init --jid USER@HOST [--server HOST:PORT] [--password-file F] [--allow JID]…",
		Short: "Configure the XMPP account and create this device's identity",
		Long: `init writes the config file (mode 0600) with the XMPP account your devices
share, creates this device's TLS identity in the state directory, and logs in
once to check the account. The password comes from --password-file or the
` + envPassword + ` environment variable.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			configFile, stateDir, err := paths()
			if err != nil {
				return err
			}
			return runInit(cmd.Context(), o, configFile, stateDir, cmd.ErrOrStderr())
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runInit(ctx context.Context, o initOptions, configFile, stateDir string, out io.Writer) error {
	j, err := jid.Parse(o.JID)
	if o.JID == "" || err != nil || j.Localpart() == "" || j.Resourcepart() != "" {
		return fmt.Errorf("--jid %q: want a bare XMPP address USER@HOST", o.JID)
	}
	for _, a := range o.Allow {
		aj, err := jid.Parse(a)
		if err != nil || aj.Localpart() == "" || aj.Resourcepart() != "" {
			return fmt.Errorf("--allow %q: want a bare XMPP address USER@HOST", a)
		}
	}
	if _, err := os.Stat(configFile); err == nil && !o.Force {
		return fmt.Errorf("%s already exists; pass --force to replace it", configFile)
	}
	x := XMPPConfig{JID: j.String(), Server: o.Server, InsecureTLS: o.InsecureTLS, Allow: o.Allow, DataAddr: o.DataAddr, DataExternal: o.DataExternal}
	if o.PasswordFile != "" {
		abs, err := filepath.Abs(o.PasswordFile)
		if err != nil {
			return err
		}
		if _, err := readPasswordFile(abs); err != nil {
			return err
		}
		x.PasswordFile = abs
	} else if p := os.Getenv(envPassword); p != "" {
		x.Password = p
	} else {
		return fmt.Errorf("no password: pass --password-file FILE or set %s", envPassword)
	}
	pc, err := x.PeersConfig()
	if err != nil {
		return err
	}
	if !o.Offline {
		if err := peers.CheckLogin(ctx, pc); err != nil {
			return explainLogin(err, pc)
		}
		fmt.Fprintf(out, "latus: logged in to %s as %s\n", serverOf(pc), pc.JID)
	}
	id, err := identity.LoadOrCreate(filepath.Join(stateDir, "identity"))
	if err != nil {
		return fmt.Errorf("create this device's identity: %w", err)
	}
	if err := writeConfig(configFile, &Config{XMPP: x}); err != nil {
		return err
	}
	fmt.Fprintf(out, "latus: wrote %s; this device is %s (fingerprint %s)\n", configFile, id.Device, id.Fingerprint)
	return nil
}

func serverOf(pc peers.Config) string {
	if pc.Server != "" {
		return pc.Server
	}
	_, host, _ := strings.Cut(pc.JID, "@")
	return host + ":5222"
}

// explainLogin turns a failed check into what the user should do.
func explainLogin(err error, pc peers.Config) error {
	switch {
	case errors.Is(err, peers.ErrAuth):
		return fmt.Errorf("the server at %s refused the login as %s: wrong password or no such account (check --password-file or %s)\n  (%w)", serverOf(pc), pc.JID, envPassword, err)
	case errors.Is(err, peers.ErrUntrustedServer):
		return fmt.Errorf("the XMPP server at %s presented a certificate this machine does not trust; if it is your own server with a self-signed certificate, run again with --insecure-tls\n  (%w)", serverOf(pc), err)
	case errors.Is(err, peers.ErrUnreachable):
		return fmt.Errorf("cannot reach the XMPP server at %s: check the address (--server HOST:PORT) and your network, or pass --offline to configure without checking\n  (%w)", serverOf(pc), err)
	}
	return fmt.Errorf("log in to %s as %s: %w", serverOf(pc), pc.JID, err)
}
