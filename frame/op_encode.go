package frame

import (
	"encoding/binary"
	"slices"
	"strconv"

	"github.com/gobwas/ws"
)

// Replies are written as complete frames straight into dst: header room
// is reserved from the payload size computed up front, the payload is
// appended, and the header is written in front. If the reservation was
// off, the payload is shifted once; with exact sizes that never happens.
// The msg push is built in two phases instead (msg.go).

// frameOp is the opcode carrying enc.
func frameOp(enc Enc) ws.OpCode {
	if enc == JSON {
		return ws.OpText
	}
	return ws.OpBinary
}

// beginFrame reserves header room for a payload of about n bytes.
func beginFrame(dst []byte, n int) (out []byte, start, room int) {
	start, room = len(dst), headerSize(n)
	if cap(dst)-start < room+n {
		dst = slices.Grow(dst, room+n)
	}
	return dst[:start+room], start, room
}

// endFrame writes the header for the payload appended since beginFrame,
// moving the payload if the header size differs from the reservation.
func endFrame(dst []byte, start, room int, op ws.OpCode) []byte {
	n := len(dst) - start - room
	hs := headerSize(n)
	switch {
	case hs < room:
		copy(dst[start+hs:], dst[start+room:])
		dst = dst[:len(dst)-(room-hs)]
	case hs > room:
		dst = append(dst, make([]byte, hs-room)...)
		copy(dst[start+hs:], dst[start+room:len(dst)-(hs-room)])
	}
	putHeader(dst[start:start+hs], op, n)
	return dst
}

// AppendAck appends a complete WebSocket frame holding {op:"ack", id}
// (id omitted when nil).
func AppendAck(dst []byte, enc Enc, id []byte) []byte { return appendOpID(dst, enc, "ack", id) }

// appendOpID appends {op: op, id} (id omitted when nil); op is a short
// ASCII name (under 32 bytes).
func appendOpID(dst []byte, enc Enc, op string, id []byte) []byte {
	if enc == JSON {
		n := len(`{"op":""}`) + len(op)
		if id != nil {
			n += len(`,"id":`) + len(id)
		}
		dst, start, room := beginFrame(dst, n)
		dst = append(dst, `{"op":"`...)
		dst = append(dst, op...)
		dst = append(dst, '"')
		if id != nil {
			dst = append(dst, `,"id":`...)
			dst = append(dst, id...)
		}
		dst = append(dst, '}')
		return endFrame(dst, start, room, ws.OpText)
	}
	n := 1 + 3 + 1 + len(op)
	if id != nil {
		n += 3 + len(id)
	}
	dst, start, room := beginFrame(dst, n)
	if id != nil {
		dst = append(dst, 0x82)
	} else {
		dst = append(dst, 0x81)
	}
	dst = append(dst, "\xa2op"...)
	dst = append(dst, 0xa0|byte(len(op)))
	dst = append(dst, op...)
	if id != nil {
		dst = append(dst, "\xa2id"...)
		dst = append(dst, id...)
	}
	return endFrame(dst, start, room, ws.OpBinary)
}

// AppendErr appends a complete WebSocket frame holding {op:"err", id,
// code, msg} (id omitted when nil).
func AppendErr(dst []byte, enc Enc, id []byte, code int, msg string) []byte {
	if enc == JSON {
		n := len(`{"op":"err","code":,"msg":}`) + intLen(code) + jsonStrLen(msg)
		if id != nil {
			n += len(`,"id":`) + len(id)
		}
		dst, start, room := beginFrame(dst, n)
		dst = append(dst, `{"op":"err"`...)
		if id != nil {
			dst = append(dst, `,"id":`...)
			dst = append(dst, id...)
		}
		dst = append(dst, `,"code":`...)
		dst = strconv.AppendInt(dst, int64(code), 10)
		dst = append(dst, `,"msg":`...)
		dst = appendJSONStr(dst, msg)
		dst = append(dst, '}')
		return endFrame(dst, start, room, ws.OpText)
	}
	n := 1 + 7 + 5 + mpIntLen(int64(code)) + 4 + mpStrLen(len(msg))
	if id != nil {
		n += 3 + len(id)
	}
	dst, start, room := beginFrame(dst, n)
	if id != nil {
		dst = append(dst, 0x84)
	} else {
		dst = append(dst, 0x83)
	}
	dst = append(dst, "\xa2op\xa3err"...)
	if id != nil {
		dst = append(dst, "\xa2id"...)
		dst = append(dst, id...)
	}
	dst = append(dst, "\xa4code"...)
	dst = appendMPInt(dst, int64(code))
	dst = append(dst, "\xa3msg"...)
	dst = appendMPStr(dst, msg)
	return endFrame(dst, start, room, ws.OpBinary)
}

// decLen is the number of decimal digits of v.
func decLen(v uint64) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

// intLen is the length of v in decimal.
func intLen(v int) int {
	if v < 0 {
		return 1 + decLen(uint64(-int64(v)))
	}
	return decLen(uint64(v))
}

const hexDigits = "0123456789abcdef"

// jsonStrLen is the length of s as a JSON string literal (appendJSONStr).
func jsonStrLen[T ~string | ~[]byte](s T) int {
	n := 2
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			n += 2
		case c < 0x20:
			n += 6
		default:
			n++
		}
	}
	return n
}

// appendJSONStr appends s as a JSON string literal, escaping quotes,
// backslashes and control characters.
func appendJSONStr[T ~string | ~[]byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

func mpStrLen(n int) int {
	switch {
	case n < 32:
		return 1 + n
	case n <= 0xff:
		return 2 + n
	case n <= 0xffff:
		return 3 + n
	}
	return 5 + n
}

// appendMPStr appends s as a MessagePack str in its shortest form.
func appendMPStr[T ~string | ~[]byte](dst []byte, s T) []byte {
	dst = appendMPStrHeader(dst, len(s))
	for i := 0; i < len(s); i++ {
		dst = append(dst, s[i])
	}
	return dst
}

// appendMPStrHeader appends the shortest str header for n bytes.
func appendMPStrHeader(dst []byte, n int) []byte {
	switch {
	case n < 32:
		return append(dst, 0xa0|byte(n))
	case n <= 0xff:
		return append(dst, 0xd9, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, 0xda), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xdb), uint32(n))
}

func mpUintLen(v uint64) int {
	switch {
	case v < 0x80:
		return 1
	case v <= 0xff:
		return 2
	case v <= 0xffff:
		return 3
	case v <= 0xffffffff:
		return 5
	}
	return 9
}

// appendMPUint appends v as a MessagePack unsigned integer in its
// shortest form.
func appendMPUint(dst []byte, v uint64) []byte {
	switch {
	case v < 0x80:
		return append(dst, byte(v))
	case v <= 0xff:
		return append(dst, 0xcc, byte(v))
	case v <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, 0xcd), uint16(v))
	case v <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(dst, 0xce), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xcf), v)
}

func mpIntLen(v int64) int {
	switch {
	case v >= 0:
		return mpUintLen(uint64(v))
	case v >= -32:
		return 1
	case v >= -128:
		return 2
	case v >= -32768:
		return 3
	case v >= -1<<31:
		return 5
	}
	return 9
}

// appendMPInt appends v as a MessagePack integer in its shortest form.
func appendMPInt(dst []byte, v int64) []byte {
	switch {
	case v >= 0:
		return appendMPUint(dst, uint64(v))
	case v >= -32:
		return append(dst, byte(v))
	case v >= -128:
		return append(dst, 0xd0, byte(v))
	case v >= -32768:
		return binary.BigEndian.AppendUint16(append(dst, 0xd1), uint16(v))
	case v >= -1<<31:
		return binary.BigEndian.AppendUint32(append(dst, 0xd2), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(v))
}
