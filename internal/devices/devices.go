// Package devices remembers, for each device id, the account and
// certificate fingerprint it was first seen with, so that no other
// account or certificate can later take that device id over (its history
// position, its place among the sources of chunks).
//
// The record is a small JSON file, rewritten atomically on each new device.
// Trust on first use: the first (account, fingerprint) announced for an
// id wins until the file is edited by hand.
package devices

import (
	"github.com/uberan/latus/internal/atomicfile"

	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
)

// MaxDevices bounds the record: a peer account cannot grow it without end
// by announcing made-up devices.
const MaxDevices = 4096

// ErrTakenOver is returned when a device id is announced by an account
// or with a certificate other than the ones it was first seen with.
var ErrTakenOver = errors.New("devices: device id already belongs to another account or certificate")

// ErrFull is returned when MaxDevices devices are known and a new one appears.
var ErrFull = errors.New("devices: too many devices known")

// Entry is what a device id is bound to.
type Entry struct {
	Account     string `json:"account"`     // bare JID
	Fingerprint string `json:"fingerprint"` // SHA-256 of its certificate, hex
}

// Registry is the record of known devices.
type Registry struct {
	path string // "" = in memory only

	mu    sync.Mutex // guards known
	known map[string]Entry
}

// Open reads the record at path (a missing file is an empty record);
// path "" keeps it in memory only.
func Open(path string) (*Registry, error) {
	r := &Registry{path: path, known: map[string]Entry{}}
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
		return nil, fmt.Errorf("known devices %s: %w", path, err)
	}
	if r.known == nil {
		r.known = map[string]Entry{}
	}
	return r, nil
}

// Admit checks that device may be announced by account with fingerprint:
// a device seen for the first time is recorded (and the record saved), a
// known one must match what it was first seen with (ErrTakenOver). The
// returned Entry is what the device is bound to.
func (r *Registry) Admit(device, account, fingerprint string) (Entry, error) {
	if device == "" || account == "" || fingerprint == "" {
		return Entry{}, fmt.Errorf("admit device %q: empty field", device)
	}
	e := Entry{Account: account, Fingerprint: fingerprint}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.known[device]; ok {
		if old != e {
			return old, fmt.Errorf("device %s (%s, certificate %s) announced by %s with certificate %s: %w", device, old.Account, old.Fingerprint, account, fingerprint, ErrTakenOver)
		}
		return old, nil
	}
	if len(r.known) >= MaxDevices {
		return Entry{}, fmt.Errorf("device %s: %w", device, ErrFull)
	}
	r.known[device] = e
	if err := r.saveLocked(); err != nil {
		// Still admitted for this run: the binding holds in memory.
		return e, fmt.Errorf("device %s admitted but not saved: %w", device, err)
	}
	return e, nil
}

// Lookup returns what device is bound to.
func (r *Registry) Lookup(device string) (Entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.known[device]
	return e, ok
}

func (r *Registry) saveLocked() error {
	if r.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(r.known, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(r.path, append(b, '\n'), 0o600)
}
