package frame

import "encoding/binary"

// The MessagePack envelope decoder: the top-level map is walked by hand;
// values it does not interpret are stepped over by mpSkip, a complete
// skipper for the format (every type code, bounds-checked lengths, no
// recursion), so a malformed value is a 400, never a crash.

func decodeMsgPack(p []byte, f *opFields) *OpError {
	n, i, ok := mpMapLen(p, 0)
	if !ok {
		if mpSkip(p, 0) < 0 {
			return errMalformed
		}
		return errNotMap
	}
	for ; n > 0; n-- {
		key, ke, isStr := mpStr(p, i)
		if !isStr {
			// A non-string key cannot be one of ours: skip key and value.
			if ke = mpSkip(p, i); ke < 0 {
				return malformed(errMalformed, f.id)
			}
			key = nil
		} else if ke < 0 {
			return malformed(errMalformed, f.id)
		}
		vs := ke
		ve := mpSkip(p, vs)
		if ve < 0 {
			return malformed(errMalformed, f.id)
		}
		v := p[vs:ve]
		if key != nil {
			switch string(key) {
			case "op":
				s, _, ok := mpStr(p, vs)
				f.hasOp, f.opIsStr, f.op = true, ok, s
			case "ch":
				s, _, ok := mpStr(p, vs)
				f.hasCh, f.chIsStr, f.ch = true, ok, s
			case "id":
				// Containers and ext values (timestamps included) are not
				// scalars (docs/protocol.md); an ext id could not be echoed
				// to a JSON reply either.
				if c := v[0]; c >= 0x80 && c <= 0x9f || c >= 0xdc && c <= 0xdf || c >= 0xc7 && c <= 0xc9 || c >= 0xd4 && c <= 0xd8 {
					return errIDNotScalar
				}
				f.id = v
			case "data":
				f.hasData, f.data = true, v
			case "since":
				f.since = v
			case "token":
				s, _, ok := mpStr(p, vs)
				f.hasToken, f.tokenIsStr, f.token = true, ok, s
			}
		}
		i = ve
	}
	if i != len(p) {
		return malformed(errTrailing, f.id)
	}
	return nil
}

// mpMapLen reads a map header at p[i].
func mpMapLen(p []byte, i int) (n uint64, next int, ok bool) {
	if i >= len(p) {
		return 0, i, false
	}
	switch c := p[i]; {
	case c >= 0x80 && c <= 0x8f:
		return uint64(c & 0x0f), i + 1, true
	case c == 0xde && i+3 <= len(p):
		return uint64(binary.BigEndian.Uint16(p[i+1:])), i + 3, true
	case c == 0xdf && i+5 <= len(p):
		return uint64(binary.BigEndian.Uint32(p[i+1:])), i + 5, true
	}
	return 0, i, false
}

// mpStr reads a str at p[i]. isStr is false if p[i] is not a str type;
// end is -1 if it is one but truncated.
func mpStr(p []byte, i int) (s []byte, end int, isStr bool) {
	if i >= len(p) {
		return nil, -1, false
	}
	c := p[i]
	var n, h int
	switch {
	case c >= 0xa0 && c <= 0xbf:
		n, h = int(c&0x1f), 1
	case c == 0xd9 && i+2 <= len(p):
		n, h = int(p[i+1]), 2
	case c == 0xda && i+3 <= len(p):
		n, h = int(binary.BigEndian.Uint16(p[i+1:])), 3
	case c == 0xdb && i+5 <= len(p):
		n, h = int(binary.BigEndian.Uint32(p[i+1:])), 5
	case c == 0xd9 || c == 0xda || c == 0xdb:
		return nil, -1, true
	default:
		return nil, -1, false
	}
	s0 := i + h
	if n > len(p)-s0 {
		return nil, -1, true
	}
	return p[s0 : s0+n], s0 + n, true
}

// mpFixed is the number of bytes following each type code in 0xc0..0xdf
// for codes whose size does not depend on a length field; -1 marks codes
// handled separately (lengths, containers) and the never-used 0xc1.
var mpFixed = [32]int8{
	0xc0 - 0xc0: 0, // nil
	0xc1 - 0xc0: -1,
	0xc2 - 0xc0: 0, 0xc3 - 0xc0: 0, // false, true
	0xc4 - 0xc0: -1, 0xc5 - 0xc0: -1, 0xc6 - 0xc0: -1, // bin
	0xc7 - 0xc0: -1, 0xc8 - 0xc0: -1, 0xc9 - 0xc0: -1, // ext
	0xca - 0xc0: 4, 0xcb - 0xc0: 8, // float32, float64
	0xcc - 0xc0: 1, 0xcd - 0xc0: 2, 0xce - 0xc0: 4, 0xcf - 0xc0: 8, // uint
	0xd0 - 0xc0: 1, 0xd1 - 0xc0: 2, 0xd2 - 0xc0: 4, 0xd3 - 0xc0: 8, // int
	0xd4 - 0xc0: 2, 0xd5 - 0xc0: 3, 0xd6 - 0xc0: 5, 0xd7 - 0xc0: 9, 0xd8 - 0xc0: 17, // fixext
	0xd9 - 0xc0: -1, 0xda - 0xc0: -1, 0xdb - 0xc0: -1, // str
	0xdc - 0xc0: -1, 0xdd - 0xc0: -1, 0xde - 0xc0: -1, 0xdf - 0xc0: -1, // array, map
}

// mpSkip returns the index just past the one complete value starting at
// p[i], or -1 if it is malformed or truncated. Containers add their
// element count to a pending counter instead of recursing, so nesting
// depth costs nothing.
func mpSkip(p []byte, i int) int {
	pending := uint64(1)
	for pending > 0 {
		// Every pending value needs at least one byte: a peer-declared
		// count larger than what is left is malformed, caught early.
		if i >= len(p) || pending > uint64(len(p)-i) {
			return -1
		}
		c := p[i]
		i++
		pending--
		switch {
		case c <= 0x7f || c >= 0xe0: // fixint
			continue
		case c <= 0x8f: // fixmap
			pending += 2 * uint64(c&0x0f)
			continue
		case c <= 0x9f: // fixarray
			pending += uint64(c & 0x0f)
			continue
		case c <= 0xbf: // fixstr
			i += int(c & 0x1f)
			if i > len(p) {
				return -1
			}
			continue
		}
		if n := mpFixed[c-0xc0]; n >= 0 {
			i += int(n)
			if i > len(p) {
				return -1
			}
			continue
		}
		var w int // width of the length field
		switch c {
		case 0xc4, 0xc7, 0xd9: // bin8, ext8, str8
			w = 1
		case 0xc5, 0xc8, 0xda, 0xdc, 0xde: // bin16, ext16, str16, array16, map16
			w = 2
		case 0xc6, 0xc9, 0xdb, 0xdd, 0xdf: // bin32, ext32, str32, array32, map32
			w = 4
		default: // 0xc1, never used
			return -1
		}
		if len(p)-i < w {
			return -1
		}
		n := beUint(p[i:], w)
		i += w
		switch c {
		case 0xdc, 0xdd: // array
			pending += n
		case 0xde, 0xdf: // map
			pending += 2 * n
		default:
			if c >= 0xc7 && c <= 0xc9 { // ext: type byte + data
				n++
			}
			if n > uint64(len(p)-i) {
				return -1
			}
			i += int(n)
		}
	}
	return i
}

// beUint reads the w-byte (1, 2, 4 or 8) big-endian unsigned integer at
// the start of p, which holds at least w bytes.
func beUint(p []byte, w int) uint64 {
	switch w {
	case 1:
		return uint64(p[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(p))
	case 4:
		return uint64(binary.BigEndian.Uint32(p))
	}
	return binary.BigEndian.Uint64(p)
}
