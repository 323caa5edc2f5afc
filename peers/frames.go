package peers

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/uberan/latus/chunks"
)

// The data channel's frames. A request is 37 bytes:
//
//	op (1) = opGet | request id (4, big-endian) | chunk id (32)
//
// A response is a 10-byte header and the body:
//
//	request id (4) | status (1) | codec (1) | length (4) | stored bytes (length)
//
// Responses may come in any order; the request id pairs them.
const (
	opGet         = 1
	requestSize   = 37
	respHeaderLen = 10
)

// status is a response's outcome, from an explicit table (never an error
// string on the wire).
type status uint8

const (
	statusOK         status = 0 // body is the chunk's stored form
	statusNotFound   status = 1 // this device does not hold the chunk
	statusError      status = 2 // this device failed to read it
	statusBadRequest status = 3 // the request was malformed
)

func (st status) err() error {
	switch st {
	case statusOK:
		return nil
	case statusNotFound:
		return ErrNotFound
	default:
		return fmt.Errorf("status %d: %w", st, ErrPeerFailed)
	}
}

type request struct {
	id    uint32
	chunk chunks.ID
}

func appendRequest(b []byte, r request) []byte {
	b = append(b, opGet)
	b = binary.BigEndian.AppendUint32(b, r.id)
	return append(b, r.chunk[:]...)
}

// readRequest reads one request; a malformed one is a protocol error that
// ends the connection.
func readRequest(r io.Reader) (request, error) {
	var b [requestSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return request{}, err
	}
	return parseRequest(b[:])
}

func parseRequest(b []byte) (request, error) {
	if len(b) != requestSize || b[0] != opGet {
		return request{}, fmt.Errorf("data channel: bad request frame: %w", ErrProtocol)
	}
	var req request
	req.id = binary.BigEndian.Uint32(b[1:5])
	copy(req.chunk[:], b[5:])
	return req, nil
}

type respHeader struct {
	id     uint32
	status status
	codec  chunks.Codec
	length uint32
}

func appendRespHeader(b []byte, h respHeader) []byte {
	b = binary.BigEndian.AppendUint32(b, h.id)
	b = append(b, byte(h.status), byte(h.codec))
	return binary.BigEndian.AppendUint32(b, h.length)
}

// parseRespHeader checks a response header before its body is read, so a
// hostile peer cannot make the reader allocate more than maxStored.
func parseRespHeader(b []byte) (respHeader, error) {
	if len(b) != respHeaderLen {
		return respHeader{}, fmt.Errorf("data channel: short response header: %w", ErrProtocol)
	}
	h := respHeader{
		id: binary.BigEndian.Uint32(b[0:4]), status: status(b[4]),
		codec: chunks.Codec(b[5]), length: binary.BigEndian.Uint32(b[6:10]),
	}
	switch {
	case h.status > statusBadRequest:
		return h, fmt.Errorf("data channel: unknown status %d: %w", h.status, ErrProtocol)
	case h.status != statusOK && (h.length != 0 || h.codec != 0):
		return h, fmt.Errorf("data channel: body on a failed response: %w", ErrProtocol)
	case !knownCodec(h.codec):
		return h, fmt.Errorf("data channel: unknown codec %d: %w", h.codec, ErrProtocol)
	case h.length > maxStored:
		return h, fmt.Errorf("data channel: %d-byte body: %w", h.length, ErrProtocol)
	}
	return h, nil
}
