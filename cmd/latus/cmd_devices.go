package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/internal/devices"
	"github.com/uberan/latus/internal/identity"
	"github.com/uberan/latus/peers"
)

// knownDevicesName is the registry of known devices in the state dir.
const knownDevicesName = "devices.json"

// knownDeviceReport is one line of `latus devices`.
type knownDeviceReport struct {
	Device      string    `json:"device"`
	Name        string    `json:"name,omitempty"`
	Account     string    `json:"account"`
	Fingerprint string    `json:"fingerprint"`
	State       string    `json:"state"` // approved, pending, removed; "this device"
	Online      bool      `json:"online"`
	Transport   string    `json:"transport,omitempty"` // direct ADDR or in-band, when online and served
	FirstSeen   time.Time `json:"first_seen,omitzero"`
	LastSeen    time.Time `json:"last_seen,omitzero"`
	Chunks      int       `json:"chunks"` // chunks this device counts it as keeping
}

const thisDevice = "this device"

func newDevicesCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List the devices this one knows: account, state, online, transport, last seen, chunks they keep",
		Long: `devices lists every device this one has met or heard of from the
account's other devices: its name and id, account, whether it is approved,
pending approval (require_approval in [xmpp]) or removed, whether it is
online and how data moves to it, when it was last seen, and how many chunks
it is known to keep for this device. Without a running daemon it reads the
state dir (nothing is online then).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDevices(cmd.Context(), g, cmd.OutOrStdout())
		},
	}
	cmd.AddCommand(
		newDecideCommand(g, "remove", "/devices/remove",
			"Remove a device for good: it is refused here and, as the removal syncs, on every device of the account",
			`remove revokes a device (its id, a unique prefix of it, or its name): from
then on its presence, IQs and data connections are refused, here and on
every other device of the account as the removal reaches it (a device
offline now learns it from whichever device it meets next). Its versions
already merged stay in history; what it kept is no longer counted, so
other devices take new copies. A removal cannot be undone.`),
		newDecideCommand(g, "approve", "/devices/approve",
			"Let in a device that waits for approval (require_approval); the approval syncs too",
			`approve lets in a device of the account that waits for approval
(require_approval = true in [xmpp]); the other devices of the account take
the approval when it reaches them.`),
	)
	return cmd
}

func newDecideCommand(g *globalOptions, verb, endpoint, short, long string) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Long:  long,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			stateDir, _, err := requireDaemon(g, `"latus devices" lists the devices without one`)
			if err != nil {
				return err
			}
			var r knownDeviceReport
			if err := dialControl(stateDir).do(cmd.Context(), "POST", endpoint, url.Values{"id": {args[0]}}, &r); err != nil {
				return fmt.Errorf("%s device %s: %w", verb, args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "device %s (%s, %s) is %s; the account's other devices take it as they meet this one\n", r.Device, displayName(r), r.Account, r.State)
			return nil
		},
	}
}

func runDevices(ctx context.Context, g *globalOptions, out io.Writer) error {
	stateDir, err := g.stateDir()
	if err != nil {
		return err
	}
	info, err := runningDaemon(stateDir)
	if err != nil {
		return err
	}
	var rs []knownDeviceReport
	if info != nil {
		if err := dialControl(stateDir).do(ctx, "GET", "/devices", nil, &rs); err != nil {
			return err
		}
	} else {
		account := ""
		if file, err := g.configFile(); err == nil {
			if cfg, err := loadConfig(file); err == nil {
				account = cfg.XMPP.JID
			}
		}
		if rs, err = offlineDevices(stateDir, account); err != nil {
			return err
		}
	}
	printDevices(out, rs, info != nil)
	return nil
}

// offlineDevices reads the registry and the chunk store of a state dir no
// daemon is using.
func offlineDevices(stateDir, account string) ([]knownDeviceReport, error) {
	id, err := identity.Load(filepath.Join(stateDir, "identity"))
	if errors.Is(err, identity.ErrNoIdentity) {
		return nil, fmt.Errorf("no Latus data in %s; run \"latus mount DIR\" first (or pass --state)", stateDir)
	}
	if err != nil {
		return nil, err
	}
	reg, err := devices.Open(filepath.Join(stateDir, knownDevicesName), devices.Self{})
	if err != nil {
		return nil, err
	}
	held, err := chunks.HeldByIn(filepath.Join(stateDir, "chunks"))
	if err != nil {
		return nil, err
	}
	ks := make([]peers.KnownDevice, 0)
	for _, rec := range reg.List() {
		ks = append(ks, peers.KnownDevice{Record: rec})
	}
	return deviceReports(id, account, ks, held), nil
}

// deviceReports is this device first, then the registry's devices.
func deviceReports(id *identity.Identity, account string, ks []peers.KnownDevice, held map[string]int) []knownDeviceReport {
	self := knownDeviceReport{Device: id.Device, Account: account, Fingerprint: id.Fingerprint, State: thisDevice, Online: true}
	self.Name, _ = os.Hostname()
	out := []knownDeviceReport{self}
	for _, k := range ks {
		r := knownDeviceReport{
			Device: k.Device, Name: k.Name, Account: k.Account, Fingerprint: k.Fingerprint, State: string(k.State),
			Online: k.Online, FirstSeen: k.FirstSeen, LastSeen: k.LastSeen, Chunks: held[k.Device],
		}
		if k.Online && k.State == devices.Approved {
			r.Transport = k.Transport
			if r.Transport == "" {
				r.Transport = "no data channel yet"
			}
		}
		out = append(out, r)
	}
	return out
}

// knownDevices is /devices.
func (d *daemon) knownDevices() []knownDeviceReport {
	var ks []peers.KnownDevice
	if s := d.swarm.Load(); s != nil {
		ks = s.Known()
	}
	return deviceReports(d.id, d.xmpp, ks, d.store.HeldBy())
}

// decideDevice removes or approves the device arg names (id, unique id
// prefix, or name) and returns its line.
func (d *daemon) decideDevice(arg string, decide func(*peers.Swarm, string) error) (knownDeviceReport, error) {
	s := d.swarm.Load()
	if s == nil {
		return knownDeviceReport{}, errors.New("this device syncs with no other (no XMPP account; see \"latus init\")")
	}
	rs := d.knownDevices()
	r, err := resolveDevice(arg, rs)
	if err != nil {
		return r, err
	}
	if r.State == thisDevice {
		return r, fmt.Errorf("%s is the device you are on: %w; remove it from another device of the account", r.Device, devices.ErrSelf)
	}
	if err := decide(s, r.Device); err != nil {
		return r, err
	}
	r, err = resolveDevice(r.Device, d.knownDevices())
	return r, err
}

// resolveDevice finds the one device arg names: its id, a unique prefix
// of the id, or its name.
func resolveDevice(arg string, rs []knownDeviceReport) (knownDeviceReport, error) {
	if arg == "" {
		return knownDeviceReport{}, fmt.Errorf("no device given; \"latus devices\" lists them: %w", devices.ErrUnknown)
	}
	var found []knownDeviceReport
	for _, r := range rs {
		if r.Device == arg {
			return r, nil
		}
		if strings.HasPrefix(r.Device, arg) || r.Name == arg {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return knownDeviceReport{}, fmt.Errorf("no known device %q; \"latus devices\" lists them: %w", arg, devices.ErrUnknown)
	}
	ids := make([]string, len(found))
	for i, r := range found {
		ids[i] = r.Device
	}
	return knownDeviceReport{}, fmt.Errorf("%q names %d devices (%s); give more of the id", arg, len(found), strings.Join(ids, ", "))
}

func displayName(r knownDeviceReport) string {
	if r.Name == "" {
		return "unnamed"
	}
	return r.Name
}

func printDevices(out io.Writer, rs []knownDeviceReport, running bool) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tNAME\tACCOUNT\tSTATE\tONLINE\tLAST SEEN\tCHUNKS")
	for _, r := range rs {
		online := "no"
		switch {
		case r.State == thisDevice:
			online = "-"
		case !running:
			online = "?"
		case r.Online && r.Transport != "":
			online = r.Transport
		case r.Online:
			online = "yes (refused)"
		}
		seen := "-"
		if !r.LastSeen.IsZero() {
			seen = r.LastSeen.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", r.Device, displayName(r), r.Account, r.State, online, seen, r.Chunks)
	}
	tw.Flush()
	if !running {
		fmt.Fprintln(out, "(no daemon running: who is online is unknown; \"latus devices remove\" and \"approve\" need \"latus mount\")")
	}
}
