package frame

import (
	"encoding/binary"

	"github.com/gobwas/ws"
)

// Prebuilt control frames (package variables, built once). Server frames
// are never masked.
var (
	CloseNormal    = AppendClose(nil, ws.StatusNormalClosure, "")                                           // 1000
	CloseGoingAway = AppendClose(nil, ws.StatusGoingAway, "server shutting down")                           // 1001
	CloseProtocol  = AppendClose(nil, ws.StatusProtocolError, "protocol error")                             // 1002
	CloseBadData   = AppendClose(nil, ws.StatusInvalidFramePayloadData, "invalid utf-8")                    // 1007
	ClosePolicy    = AppendClose(nil, ws.StatusPolicyViolation, "policy violation")                         // 1008
	CloseSlow      = AppendClose(nil, ws.StatusPolicyViolation, "slow consumer: outbound queue over bound") // 1008
	CloseTooBig    = AppendClose(nil, ws.StatusMessageTooBig, "message too big")                            // 1009
	CloseTimeout   = AppendClose(nil, ws.StatusPolicyViolation, "timeout")                                  // 1008 heartbeat or deadline
	PingFrame      = appendHeader(nil, ws.OpPing, 0)                                                        // empty ping
)

// AppendClose appends a close frame with code and reason (reason trimmed to
// fit 125 bytes, at a UTF-8 boundary so the peer does not fail us with
// 1007).
func AppendClose(dst []byte, code ws.StatusCode, reason string) []byte {
	if len(reason) > ws.MaxControlFramePayloadSize-2 {
		reason = reason[:ws.MaxControlFramePayloadSize-2]
		for len(reason) > 0 && !validUTF8([]byte(reason)) {
			reason = reason[:len(reason)-1]
		}
	}
	dst = appendHeader(dst, ws.OpClose, 2+len(reason))
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, reason...)
}

// AppendPong appends a pong frame echoing p (len(p) <= 125; longer p is
// cut to 125).
func AppendPong(dst, p []byte) []byte {
	p = p[:min(len(p), ws.MaxControlFramePayloadSize)]
	dst = appendHeader(dst, ws.OpPong, len(p))
	return append(dst, p...)
}

// headerSize is the length of an unmasked header for an n-byte payload.
func headerSize(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xffff:
		return 4
	}
	return 10
}

// appendHeader appends an unmasked FIN header with opcode op for an
// n-byte payload.
func appendHeader(dst []byte, op ws.OpCode, n int) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, headerSize(n))...)
	putHeader(dst[start:], op, n)
	return dst
}

// putHeader writes an unmasked FIN header into b, which is exactly
// headerSize(n) long.
func putHeader(b []byte, op ws.OpCode, n int) {
	b[0] = 0x80 | byte(op)
	switch len(b) {
	case 2:
		b[1] = byte(n)
	case 4:
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:], uint16(n))
	default:
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:], uint64(n))
	}
}
