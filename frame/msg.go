package frame

import (
	"errors"
	"slices"
	"strconv"
)

// The msg push, {"op":"msg","ch":..,"off":N,"data":..}, is built in two
// phases so that the costly part happens outside every lock: first the
// data part (data, already in the frame's encoding, and what follows it)
// is appended after MsgHeadMax bytes of room; later, once the offset is
// known, FinishMsg writes the WebSocket header and the prefix right-aligned
// into that room. The frame is the tail of the one buffer: no copy of the
// data, no allocation.

const (
	wsHeaderMax = 10 // an unmasked server header with a 64-bit length

	// The longest prefixes, for a channel name that passes ValidChannel
	// (its bytes never need escaping) and the largest offset.
	msgJSONPrefixMax = len(`{"op":"msg","ch":`) + 2 + MaxChannel + len(`,"off":`) + 20 + len(`,"data":`)
	msgMPPrefixMax   = len("\x84\xa2op\xa3msg\xa2ch") + 2 + MaxChannel + len("\xa3off") + 9 + len("\xa4data")

	// MsgHeadMax is the most bytes a msg frame's head (WebSocket header and
	// prefix) can take, in either encoding, for a channel name that passes
	// ValidChannel: room enough for FinishMsg whatever the offset.
	MsgHeadMax = wsHeaderMax + max(msgJSONPrefixMax, msgMPPrefixMax)

	// MaxMsgOverhead bounds the bytes AppendMsg adds around ch and data
	// (header, keys, offset, the closing brace): a dst with spare capacity
	// len(ch)+len(data)+MaxMsgOverhead is never reallocated (for channel
	// names that pass ValidChannel).
	MaxMsgOverhead = MsgHeadMax - MaxChannel + len("}")
)

// AppendMsgPart appends the data part of a msg frame: data (one value in
// enc) and what follows it in the frame: '}' for JSON, nothing for
// MessagePack. Append it at len(dst) == room >= MsgHeadMax, then call
// FinishMsg.
func AppendMsgPart(dst []byte, enc Enc, data []byte) []byte {
	dst = append(dst, data...)
	if enc == JSON {
		dst = append(dst, '}')
	}
	return dst
}

// AppendMsgPartFrom is AppendMsgPart for data in encoding from, converted
// to enc when they differ (AppendTranscoded: at most limit bytes of
// converted data, errors are *ConvError; data already in enc is copied
// as is, whatever the limit).
func AppendMsgPartFrom(dst []byte, enc Enc, data []byte, from Enc, limit int) ([]byte, error) {
	if from == enc {
		return AppendMsgPart(dst, enc, data), nil
	}
	out, err := AppendTranscoded(dst, data, from, limit)
	if err != nil {
		return dst, err
	}
	return AppendMsgPart(out, enc, nil), nil
}

// FinishMsg completes a msg frame in place: buf[room:] is the data part
// (AppendMsgPart), and the WebSocket header for the whole payload and the
// prefix for ch and off are written right-aligned into buf[:room]. It
// returns the frame, a subslice of buf ending where buf ends, and does
// not allocate. room >= MsgHeadMax always suffices; a room smaller than
// this head needs is a programming error and panics.
func FinishMsg(buf []byte, room int, enc Enc, ch []byte, off uint64) []byte {
	p := msgPrefixLen(enc, ch, off)
	n := p + len(buf) - room
	hs := headerSize(n)
	start := room - p - hs
	if start < 0 {
		panic("frame: FinishMsg: room " + strconv.Itoa(room) + " < head " + strconv.Itoa(p+hs))
	}
	putHeader(buf[start:start+hs], frameOp(enc), n)
	// Capacity ends at room: the prefix is appended exactly into its place.
	appendMsgPrefix(buf[start+hs:start+hs:room], enc, ch, off)
	return buf[start:]
}

// msgPrefixLen is the length of the prefix appendMsgPrefix writes.
func msgPrefixLen(enc Enc, ch []byte, off uint64) int {
	if enc == JSON {
		return len(`{"op":"msg","ch":,"off":,"data":`) + jsonStrLen(ch) + decLen(off)
	}
	return len("\x84\xa2op\xa3msg\xa2ch\xa3off\xa4data") + mpStrLen(len(ch)) + mpUintLen(off)
}

func appendMsgPrefix(dst []byte, enc Enc, ch []byte, off uint64) []byte {
	if enc == JSON {
		dst = append(dst, `{"op":"msg","ch":`...)
		dst = appendJSONStr(dst, ch)
		dst = append(dst, `,"off":`...)
		dst = strconv.AppendUint(dst, off, 10)
		return append(dst, `,"data":`...)
	}
	dst = append(dst, "\x84\xa2op\xa3msg\xa2ch"...)
	dst = appendMPStr(dst, ch)
	dst = append(dst, "\xa3off"...)
	dst = appendMPUint(dst, off)
	return append(dst, "\xa4data"...)
}

var errEmptyData = errors.New("frame: empty data value")

// AppendMsg appends a complete msg frame for data, one value already in
// enc (a publish in the other encoding is converted first: AppendMsgPartFrom
// or AppendTranscoded). It is AppendMsgPart and FinishMsg with the head's
// exact size reserved, so the frame starts at len(dst); nothing is
// allocated if dst has room (see MaxMsgOverhead).
func AppendMsg(dst []byte, enc Enc, ch []byte, off uint64, data []byte) ([]byte, error) {
	if len(data) == 0 {
		return dst, errEmptyData
	}
	start := len(dst)
	part := len(data)
	if enc == JSON {
		part++
	}
	p := msgPrefixLen(enc, ch, off)
	room := headerSize(p+part) + p
	dst = slices.Grow(dst, room+part)[:start+room]
	dst = AppendMsgPart(dst, enc, data)
	FinishMsg(dst[start:], room, enc, ch, off)
	return dst, nil
}
