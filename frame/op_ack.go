package frame

import (
	"strconv"

	"github.com/gobwas/ws"
)

// Acks that carry a channel position (docs/protocol.md): a sub's ack says
// where the subscriber's stream starts (the last offset before its first
// live msg, and the channel's epoch) and, when the sub asked to resume,
// whether it could; a pub's ack says the offset the publish took.

// AppendEpoch appends epoch as the protocol writes it: base 36, lower
// case, 1 to 7 characters (an epoch is a non-zero 32-bit value).
func AppendEpoch(dst []byte, epoch uint32) []byte {
	return strconv.AppendUint(dst, uint64(epoch), 36)
}

// ParseEpoch reads an epoch written by AppendEpoch; 0 (never an epoch) for
// anything else, so that a malformed epoch simply does not match.
func ParseEpoch(b []byte) uint32 {
	if len(b) == 0 || len(b) > 7 {
		return 0
	}
	var v uint64
	for _, c := range b {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'z':
			d = c - 'a' + 10
		default:
			return 0
		}
		v = v*36 + uint64(d)
	}
	if v > 1<<32-1 {
		return 0
	}
	return uint32(v)
}

// epochLen is len(AppendEpoch(nil, e)).
func epochLen(e uint32) int {
	n := 1
	for e >= 36 {
		e /= 36
		n++
	}
	return n
}

// recovered values for AppendSubAck.
const (
	NoSince   = -1 // the sub had no since: no "recovered" key
	Lost      = 0  // recovered: false
	Recovered = 1  // recovered: true
)

// AppendSubAck appends {op:"ack", id, off, epoch[, recovered]} as a
// complete frame in enc (id is a raw value in enc; nil omits it).
func AppendSubAck(dst []byte, enc Enc, id []byte, off uint64, epoch uint32, recovered int) []byte {
	return appendPosAck(dst, enc, id, off, epoch, recovered)
}

// AppendPubAck appends {op:"ack", id, off} as a complete frame in enc.
func AppendPubAck(dst []byte, enc Enc, id []byte, off uint64) []byte {
	return appendPosAck(dst, enc, id, off, 0, NoSince)
}

// appendPosAck writes both acks: epoch 0 (never an epoch) omits the epoch.
func appendPosAck(dst []byte, enc Enc, id []byte, off uint64, epoch uint32, recovered int) []byte {
	if enc == JSON {
		n := len(`{"op":"ack","off":}`) + decLen(off)
		if id != nil {
			n += len(`,"id":`) + len(id)
		}
		if epoch != 0 {
			n += len(`,"epoch":""`) + epochLen(epoch)
		}
		if recovered != NoSince {
			n += len(`,"recovered":false`)
		}
		dst, start, room := beginFrame(dst, n)
		dst = append(dst, `{"op":"ack"`...)
		if id != nil {
			dst = append(dst, `,"id":`...)
			dst = append(dst, id...)
		}
		dst = append(dst, `,"off":`...)
		dst = strconv.AppendUint(dst, off, 10)
		if epoch != 0 {
			dst = append(dst, `,"epoch":"`...)
			dst = AppendEpoch(dst, epoch)
			dst = append(dst, '"')
		}
		switch recovered {
		case Recovered:
			dst = append(dst, `,"recovered":true`...)
		case Lost:
			dst = append(dst, `,"recovered":false`...)
		}
		dst = append(dst, '}')
		return endFrame(dst, start, room, ws.OpText)
	}
	keys := 2
	n := 1 + 7 + 4 + mpUintLen(off)
	if id != nil {
		keys++
		n += 3 + len(id)
	}
	if epoch != 0 {
		keys++
		n += 6 + 1 + epochLen(epoch)
	}
	if recovered != NoSince {
		keys++
		n += 10 + 1
	}
	dst, start, room := beginFrame(dst, n)
	dst = append(dst, 0x80|byte(keys))
	dst = append(dst, "\xa2op\xa3ack"...)
	if id != nil {
		dst = append(dst, "\xa2id"...)
		dst = append(dst, id...)
	}
	dst = append(dst, "\xa3off"...)
	dst = appendMPUint(dst, off)
	if epoch != 0 {
		dst = append(dst, "\xa5epoch"...)
		dst = append(dst, 0xa0|byte(epochLen(epoch)))
		dst = AppendEpoch(dst, epoch)
	}
	switch recovered {
	case Recovered:
		dst = append(dst, "\xa9recovered\xc3"...)
	case Lost:
		dst = append(dst, "\xa9recovered\xc2"...)
	}
	return endFrame(dst, start, room, ws.OpBinary)
}

// AppendPongOp appends {op:"pong", id} (the answer to an app-level ping)
// as a complete frame in enc; without an id the prebuilt PongOp is cheaper.
func AppendPongOp(dst []byte, enc Enc, id []byte) []byte { return appendOpID(dst, enc, "pong", id) }

// PongOp is the prebuilt {op:"pong"} per encoding (MsgPack, JSON), for a
// ping without an id.
var PongOp = [2][]byte{AppendPongOp(nil, MsgPack, nil), AppendPongOp(nil, JSON, nil)}
