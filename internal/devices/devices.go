// Package devices is the registry of known devices: for each device id,
// the account and certificate fingerprint it was first seen with, its
// name, when it was first and last seen, and whether it is approved,
// pending approval or removed.
//
// # Binding
//
// Trust on first use: the first (account, fingerprint) announced for an
// id wins, so no other account or certificate can later take that device
// id over (its history position, its place among the sources of chunks).
//
// # Decisions
//
// Removing a device and approving a pending one are Decisions: signed
// with the deciding device's certificate key, so that they can travel
// through the XMPP server and through other devices without being
// forged. A device accepts a decision only when the signer is itself or
// an approved device of its own account. Decisions merge by state:
// removed beats approved beats pending, so a removal is permanent and
// wins over any approval it meets, on every device, in any order.
//
// The record is a small JSON file rewritten atomically; last-seen times
// reach it at most every SeenEvery, not on every stanza.
package devices

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/uberan/latus/internal/atomicfile"
	"github.com/uberan/latus/internal/identity"
)

// MaxDevices bounds the record: a peer account cannot grow it without end
// by announcing made-up devices.
const MaxDevices = 4096

// SeenEvery is how stale a last-seen time on disk may get: a device seen
// again within it is not written out again.
const SeenEvery = 5 * time.Minute

// maxName bounds a device's announced name.
const maxName = 64

// State is what a device may do.
type State string

const (
	// Approved devices are peers: their IQs and connections are served.
	Approved State = "approved"
	// Pending devices of the own account wait for `latus devices approve`
	// (require_approval); they are refused like unknown ones.
	Pending State = "pending"
	// Removed devices are refused for good.
	Removed State = "removed"
)

// rank orders states for merging: the higher wins.
func (s State) rank() int {
	switch s {
	case Removed:
		return 2
	case Approved:
		return 1
	}
	return 0
}

// Record is what the registry knows of one device.
type Record struct {
	Device      string    `json:"-"`
	Account     string    `json:"account"`     // bare JID
	Fingerprint string    `json:"fingerprint"` // SHA-256 of its certificate, hex
	Name        string    `json:"name,omitempty"`
	FirstSeen   time.Time `json:"first_seen,omitzero"`
	LastSeen    time.Time `json:"last_seen,omitzero"`
	State       State     `json:"state"`
	// Decision is the signed decision that set State, passed on to the
	// account's other devices; nil for a device approved on first use.
	Decision *Decision `json:"decision,omitempty"`
}

// Self is the device a registry belongs to.
type Self struct {
	Identity *identity.Identity // signs decisions; nil: the registry is read-only
	Account  string             // the own account's bare JID
	// RequireApproval keeps new devices of the own account pending until
	// approved; otherwise they are approved on first use.
	RequireApproval bool
}

// Registry is the record of known devices. Its methods are safe for
// concurrent use.
type Registry struct {
	path string // "" = in memory only
	self Self
	now  func() time.Time

	mu      sync.Mutex // guards the fields below
	known   map[string]*Record
	dirty   bool      // last-seen times or names not on disk yet
	savedAt time.Time // when the record was last written
	refused map[string]error
}

// Open reads the record at path (a missing file is an empty record);
// path "" keeps it in memory only.
func Open(path string, self Self) (*Registry, error) {
	r := &Registry{path: path, self: self, now: time.Now, known: map[string]*Record{}, refused: map[string]error{}}
	if path == "" {
		return r, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read known devices: %w", err)
	}
	if err := json.Unmarshal(b, &r.known); err != nil {
		return nil, fmt.Errorf("known devices %s: %w (move it away to start over: every device is then met anew)", path, err)
	}
	if r.known == nil {
		r.known = map[string]*Record{}
	}
	for dev, rec := range r.known {
		if rec == nil {
			delete(r.known, dev)
			continue
		}
		rec.Device = dev
		if rec.State == "" {
			rec.State = Approved // a record from before states existed
		}
	}
	r.savedAt = r.now()
	return r, nil
}

// Admit checks that device may be announced by account with fingerprint
// and records that it was seen now under name. A device seen for the
// first time is recorded: approved, or pending when it belongs to the own
// account and approval is required. It returns the device's record and
//   - ErrTakenOver when the id is bound to another account or certificate;
//   - ErrRemoved or ErrPending when the device may not be served;
//   - ErrFull when MaxDevices are known and this one is new.
func (r *Registry) Admit(device, account, fingerprint, name string) (Record, error) {
	if device == "" || account == "" || fingerprint == "" {
		return Record{}, fmt.Errorf("admit device %q: empty field", device)
	}
	if len(name) > maxName {
		name = name[:maxName]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	rec, ok := r.known[device]
	if !ok {
		if len(r.known) >= MaxDevices {
			return Record{}, fmt.Errorf("device %s: %w", device, ErrFull)
		}
		rec = &Record{Device: device, Account: account, Fingerprint: fingerprint, Name: name, FirstSeen: now, LastSeen: now, State: Approved}
		if account == r.self.Account && r.self.RequireApproval {
			rec.State = Pending
		}
		r.known[device] = rec
		if err := r.saveLocked(); err != nil {
			// Still bound for this run: the binding holds in memory.
			return *rec, fmt.Errorf("device %s recorded but not saved: %w", device, err)
		}
		return *rec, r.stateErr(rec)
	}
	if rec.Account != account || rec.Fingerprint != fingerprint {
		return *rec, fmt.Errorf("device %s (%s, certificate %.16s) announced by %s with certificate %.16s: %w", device, rec.Account, rec.Fingerprint, account, fingerprint, ErrTakenOver)
	}
	if rec.FirstSeen.IsZero() { // known from a decision before it was met
		rec.FirstSeen = now
		r.dirty = true
	}
	if name != "" && rec.Name != name {
		rec.Name = name
		r.dirty = true
	}
	if rec.State == Pending && !r.self.RequireApproval {
		rec.State = Approved // approval was required once and no longer is
		r.dirty = true
	}
	r.seenLocked(rec, now)
	return *rec, r.stateErr(rec)
}

func (r *Registry) stateErr(rec *Record) error {
	switch rec.State {
	case Removed:
		return fmt.Errorf("device %s (%s): %w", rec.Device, rec.Account, ErrRemoved)
	case Pending:
		return fmt.Errorf("device %s (%s): %w", rec.Device, rec.Account, ErrPending)
	}
	return nil
}

// Check reports whether device, speaking as account, may be served: nil
// when it is approved and bound to account, else ErrUnknown, ErrTakenOver,
// ErrRemoved or ErrPending. It also records that the device was seen.
func (r *Registry) Check(device, account string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.known[device]
	switch {
	case !ok:
		return fmt.Errorf("device %s (%s): %w", device, account, ErrUnknown)
	case rec.Account != account:
		return fmt.Errorf("device %s (%s) used by %s: %w", device, rec.Account, account, ErrTakenOver)
	}
	if rec.State == Approved {
		r.seenLocked(rec, r.now())
	}
	return r.stateErr(rec)
}

// Trusted reports whether fingerprint belongs to an approved device.
func (r *Registry) Trusted(fingerprint string) bool {
	if len(fingerprint) < identity.DeviceLen {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.known[fingerprint[:identity.DeviceLen]]
	return ok && rec.Fingerprint == fingerprint && rec.State == Approved
}

// seenLocked moves rec's last-seen time, writing the record out when the
// time on disk is older than SeenEvery.
func (r *Registry) seenLocked(rec *Record, now time.Time) {
	if now.After(rec.LastSeen) {
		rec.LastSeen = now
		r.dirty = true
	}
	if r.dirty && now.Sub(r.savedAt) >= SeenEvery {
		r.saveLocked() // a failed write is retried at the next sighting or Flush
	}
}

// FirstRefusal reports whether err is news for device: the first refusal
// of each kind is logged, the stream of stanzas that follow is not.
func (r *Registry) FirstRefusal(device string, err error) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	var kind error
	for _, k := range []error{ErrRemoved, ErrPending, ErrTakenOver, ErrUnknown, ErrFull} {
		if errors.Is(err, k) {
			kind = k
			break
		}
	}
	if len(r.refused) >= MaxDevices {
		clear(r.refused)
	}
	if r.refused[device] == kind {
		return false
	}
	r.refused[device] = kind
	return true
}

// Lookup returns the record of device.
func (r *Registry) Lookup(device string) (Record, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.known[device]
	if !ok {
		return Record{}, false
	}
	return *rec, true
}

// List returns every record, by account, then name, then device id.
func (r *Registry) List() []Record {
	r.mu.Lock()
	out := make([]Record, 0, len(r.known))
	for _, rec := range r.known {
		out = append(out, *rec)
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b Record) int {
		if a.Account != b.Account {
			return strings.Compare(a.Account, b.Account)
		}
		if a.Name != b.Name {
			return strings.Compare(a.Name, b.Name)
		}
		return strings.Compare(a.Device, b.Device)
	})
	return out
}

// Flush writes out last-seen times not on disk yet.
func (r *Registry) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.dirty {
		return nil
	}
	return r.saveLocked()
}

func (r *Registry) saveLocked() error {
	if r.path == "" {
		r.dirty = false
		return nil
	}
	b, err := json.MarshalIndent(r.known, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(r.path, append(b, '\n'), 0o600); err != nil {
		return err
	}
	r.dirty, r.savedAt = false, r.now()
	return nil
}
