package devices

import "errors"

var (
	// ErrTakenOver is returned when a device id is announced by an account
	// or with a certificate other than the ones it was first seen with.
	ErrTakenOver = errors.New("devices: device id already belongs to another account or certificate")
	// ErrFull is returned when MaxDevices devices are known and a new one appears.
	ErrFull = errors.New("devices: too many devices known")
	// ErrRemoved is returned for a device that was removed (latus devices
	// remove); it is refused for good.
	ErrRemoved = errors.New("devices: device was removed")
	// ErrPending is returned for a device of the own account that waits
	// for approval (require_approval; latus devices approve).
	ErrPending = errors.New("devices: device waits for approval")
	// ErrUnknown is returned for a device id the registry has never met.
	ErrUnknown = errors.New("devices: unknown device")
	// ErrSelf is returned when asked to remove the device the registry
	// belongs to.
	ErrSelf = errors.New("devices: this is the device itself")
	// ErrBadDecision is returned for a decision that is malformed, badly
	// signed, or signed by a device this one does not trust to decide.
	ErrBadDecision = errors.New("devices: decision refused")
	// ErrReadOnly is returned when a registry opened without an identity
	// is asked to decide.
	ErrReadOnly = errors.New("devices: registry opened read-only")
)
