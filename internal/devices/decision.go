package devices

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/uberan/latus/internal/identity"
)

// maxAccount bounds an account in a decision (a JID is at most 3071 bytes;
// real ones are far shorter).
const maxAccount = 1024

// maxCert bounds a signer's certificate (an ed25519 self-signed one is
// about 300 bytes).
const maxCert = 2048

// Decision is a device's removal or approval, signed by the device that
// decided it, so that any device of the account can pass it on and every
// one can check it.
type Decision struct {
	Device      string    `json:"device"`
	Account     string    `json:"account"`
	Fingerprint string    `json:"fingerprint"`
	State       State     `json:"state"` // Approved or Removed
	At          time.Time `json:"at"`
	Signer      []byte    `json:"signer"` // DER certificate of the deciding device
	Sig         []byte    `json:"sig"`    // ed25519 over signedBytes
}

// signedBytes is what the signature covers: every field but the signer's
// certificate (its key checks the signature; its fingerprint is checked
// against the registry).
func (d Decision) signedBytes() []byte {
	var b bytes.Buffer
	b.WriteString("latus device decision 1\x00")
	for _, f := range []string{d.Device, d.Account, d.Fingerprint, string(d.State), strconv.FormatInt(d.At.UnixNano(), 10)} {
		b.WriteString(f)
		b.WriteByte(0)
	}
	return b.Bytes()
}

// SignerFingerprint is the fingerprint of the deciding device's certificate.
func (d Decision) SignerFingerprint() string { return identity.FingerprintOf(d.Signer) }

// check verifies d's form and signature, and returns the signer's
// fingerprint. It does not say whether the signer may decide.
func (d Decision) check() (string, error) {
	switch {
	case d.State != Approved && d.State != Removed:
		return "", fmt.Errorf("state %q: %w", d.State, ErrBadDecision)
	case !identity.IsFingerprint(d.Fingerprint) || d.Device != d.Fingerprint[:identity.DeviceLen]:
		return "", fmt.Errorf("device %.20q, fingerprint %.70q: %w", d.Device, d.Fingerprint, ErrBadDecision)
	case d.Account == "" || len(d.Account) > maxAccount:
		return "", fmt.Errorf("device %s: account of %d bytes: %w", d.Device, len(d.Account), ErrBadDecision)
	case len(d.Signer) == 0 || len(d.Signer) > maxCert || len(d.Sig) != ed25519.SignatureSize:
		return "", fmt.Errorf("device %s: signer or signature missing or too long: %w", d.Device, ErrBadDecision)
	}
	cert, err := x509.ParseCertificate(d.Signer)
	if err != nil {
		return "", fmt.Errorf("device %s: signer certificate: %v: %w", d.Device, err, ErrBadDecision)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok {
		return "", fmt.Errorf("device %s: signer key is not ed25519: %w", d.Device, ErrBadDecision)
	}
	if !ed25519.Verify(pub, d.signedBytes(), d.Sig) {
		return "", fmt.Errorf("device %s: bad signature: %w", d.Device, ErrBadDecision)
	}
	return d.SignerFingerprint(), nil
}

// Remove revokes device for good and returns the signed decision to pass
// on to the account's other devices. The device this registry belongs to
// cannot be removed here (ErrSelf); an unknown id is ErrUnknown.
func (r *Registry) Remove(device string) (Decision, error) {
	return r.decide(device, Removed)
}

// Approve lets a pending device in and returns the signed decision to
// pass on. Approving an approved device changes nothing; a removed one
// stays removed (ErrRemoved).
func (r *Registry) Approve(device string) (Decision, error) {
	return r.decide(device, Approved)
}

func (r *Registry) decide(device string, st State) (Decision, error) {
	id := r.self.Identity
	if id == nil {
		return Decision{}, ErrReadOnly
	}
	if device == id.Device {
		return Decision{}, fmt.Errorf("device %s: %w", device, ErrSelf)
	}
	key, ok := id.Cert.PrivateKey.(ed25519.PrivateKey)
	if !ok {
		return Decision{}, fmt.Errorf("sign a decision: device key is not ed25519")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.known[device]
	if !ok {
		return Decision{}, fmt.Errorf("device %s: %w", device, ErrUnknown)
	}
	if rec.State == Removed {
		if st == Removed && rec.Decision != nil {
			return *rec.Decision, nil
		}
		if st == Approved {
			return Decision{}, fmt.Errorf("device %s: %w for good; it cannot be approved again", device, ErrRemoved)
		}
	}
	if rec.State == Approved && st == Approved && rec.Decision != nil {
		return *rec.Decision, nil
	}
	d := Decision{Device: device, Account: rec.Account, Fingerprint: rec.Fingerprint, State: st, At: r.now().UTC(), Signer: id.Cert.Certificate[0]}
	d.Sig = ed25519.Sign(key, d.signedBytes())
	rec.State, rec.Decision = st, &d
	if err := r.saveLocked(); err != nil {
		return d, fmt.Errorf("device %s %s but not saved: %w", device, st, err)
	}
	return d, nil
}

// Decisions returns every signed decision the registry holds, to pass on.
func (r *Registry) Decisions() []Decision {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Decision
	for _, rec := range r.known {
		if rec.Decision != nil {
			out = append(out, *rec.Decision)
		}
	}
	return out
}

// Merge applies decisions another device passed on. A decision is taken
// only when well formed, signed, and signed by this device or an approved
// device of the own account; states merge by rank (removed > approved >
// pending), so a removal is never undone. It returns the decisions that
// changed a device's state, to act on and pass on, and an error
// (ErrBadDecision) naming those refused.
func (r *Registry) Merge(ds []Decision) ([]Decision, error) {
	var changed []Decision
	var errs []error
	r.mu.Lock()
	defer r.mu.Unlock()
	save := false
	for _, d := range ds {
		ch, stored, err := r.mergeLocked(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		save = save || stored
		if ch {
			changed = append(changed, d)
		}
	}
	if save {
		if err := r.saveLocked(); err != nil {
			errs = append(errs, fmt.Errorf("save known devices: %w", err))
		}
	}
	return changed, errors.Join(errs...)
}

// mergeLocked applies one decision: changed when it moved a state,
// stored when the record changed at all.
func (r *Registry) mergeLocked(d Decision) (changed, stored bool, err error) {
	signer, err := d.check()
	if err != nil {
		return false, false, err
	}
	if !r.maySignLocked(signer) {
		return false, false, fmt.Errorf("device %s %s by %.16s, not an approved device of %s: %w", d.Device, d.State, signer, r.self.Account, ErrBadDecision)
	}
	d.At = d.At.UTC()
	rec, ok := r.known[d.Device]
	if !ok {
		if len(r.known) >= MaxDevices {
			return false, false, fmt.Errorf("device %s: %w", d.Device, ErrFull)
		}
		r.known[d.Device] = &Record{Device: d.Device, Account: d.Account, Fingerprint: d.Fingerprint, State: d.State, Decision: &d}
		return true, true, nil
	}
	if rec.Account != d.Account || rec.Fingerprint != d.Fingerprint {
		// Another binding of the id than the one met here: a removal
		// still refuses whatever claims the id, an approval lets nothing in.
		if d.State != Removed || rec.State == Removed {
			return false, false, nil
		}
	}
	switch {
	case d.State.rank() > rec.State.rank():
		rec.State, rec.Decision = d.State, &d
		return true, true, nil
	case d.State == rec.State && (rec.Decision == nil || earlier(d, *rec.Decision)):
		// The same state: keep one decision, the same on every device.
		rec.Decision = &d
		return false, true, nil
	}
	return false, false, nil
}

// earlier orders two decisions of one state: the first decided, then by signature.
func earlier(a, b Decision) bool {
	if !a.At.Equal(b.At) {
		return a.At.Before(b.At)
	}
	return bytes.Compare(a.Sig, b.Sig) < 0
}

// maySignLocked reports whether the device with fingerprint fp may decide
// for this registry: this device itself, or an approved device of the own
// account.
func (r *Registry) maySignLocked(fp string) bool {
	if id := r.self.Identity; id != nil && fp == id.Fingerprint {
		return true
	}
	rec, ok := r.known[fp[:identity.DeviceLen]]
	return ok && rec.Fingerprint == fp && rec.Account == r.self.Account && rec.State == Approved
}
