package peers

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/uberan/latus/chunks"
)

// The data channel's frames. A request is an op, a request id and the
// op's fixed-size argument:
//
//	opGet   (1) | request id (4, big-endian) | chunk id (32)       → the chunk's stored bytes
//	opIndex (2) | request id (4)             | since (8, big-endian) → an index page
//
// A response is a 10-byte header and the body:
//
//	request id (4) | status (1) | codec (1) | length (4) | body (length)
//
// An index page's body is next (8) | more (1) | the page's versions,
// each length-prefixed (uvarint) in meta's binary form, compressed
// (codec zstd). Responses may come in any order; the request id pairs
// them. No request has id 0 (padID): a response with it is padding, read
// and dropped (see relayPad).
const (
	padID         = 0
	opGet         = 1
	opIndex       = 2
	reqHeaderLen  = 5
	requestSize   = reqHeaderLen + 32 // the largest request
	respHeaderLen = 10
	indexHeadLen  = 9 // next and more, before an index page's versions
)

// argLen is the size of op's argument, or -1 for an unknown op.
func argLen(op byte) int {
	switch op {
	case opGet:
		return 32
	case opIndex:
		return 8
	}
	return -1
}

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
	op    byte // opGet (the zero value means opGet too) or opIndex
	id    uint32
	chunk chunks.ID // opGet
	since uint64    // opIndex
}

func appendRequest(b []byte, r request) []byte {
	if r.op == opIndex {
		b = append(b, opIndex)
		b = binary.BigEndian.AppendUint32(b, r.id)
		return binary.BigEndian.AppendUint64(b, r.since)
	}
	b = append(b, opGet)
	b = binary.BigEndian.AppendUint32(b, r.id)
	return append(b, r.chunk[:]...)
}

// readRequest reads one request; a malformed one is a protocol error that
// ends the connection.
func readRequest(r io.Reader) (request, error) {
	var b [requestSize]byte
	if _, err := io.ReadFull(r, b[:reqHeaderLen]); err != nil {
		return request{}, err
	}
	n := argLen(b[0])
	if n < 0 {
		return request{}, fmt.Errorf("data channel: unknown op %d: %w", b[0], ErrProtocol)
	}
	if _, err := io.ReadFull(r, b[reqHeaderLen:reqHeaderLen+n]); err != nil {
		return request{}, err
	}
	return parseRequest(b[:reqHeaderLen+n])
}

func parseRequest(b []byte) (request, error) {
	if len(b) < reqHeaderLen || argLen(b[0]) != len(b)-reqHeaderLen {
		return request{}, fmt.Errorf("data channel: bad request frame: %w", ErrProtocol)
	}
	req := request{op: b[0], id: binary.BigEndian.Uint32(b[1:5])}
	switch req.op {
	case opGet:
		copy(req.chunk[:], b[reqHeaderLen:])
	case opIndex:
		req.since = binary.BigEndian.Uint64(b[reqHeaderLen:])
	}
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
