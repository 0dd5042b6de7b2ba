package frame

import (
	"encoding/binary"
	"math"
)

// JSONCompatible reports whether the MessagePack value mp can be shown to a
// JSON subscriber: no ext types (timestamps included), string map keys only,
// finite floats, and nesting within maxDepth. The server checks this when a
// MessagePack publish arrives, so a publish is refused up front (err 400)
// rather than silently missing for JSON subscribers. It walks the bytes
// without allocating.
func JSONCompatible(mp []byte) bool {
	n, ok := jsonWalk(mp, 0)
	return ok && n == len(mp)
}

const maxDepth = 64

// jsonWalk checks one value at the start of b and returns its length.
func jsonWalk(b []byte, depth int) (int, bool) {
	if len(b) == 0 || depth > maxDepth {
		return 0, false
	}
	c := b[0]
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return 1, true
	case c >= 0xa0 && c <= 0xbf:
		return sized(b, 1, int(c&0x1f))
	case c >= 0x80 && c <= 0x8f:
		return walkItems(b, 1, int(c&0x0f), true, depth)
	case c >= 0x90 && c <= 0x9f:
		return walkItems(b, 1, int(c&0x0f), false, depth)
	}
	switch c {
	case 0xcc, 0xd0:
		return fixed(b, 2)
	case 0xcd, 0xd1:
		return fixed(b, 3)
	case 0xce, 0xd2:
		return fixed(b, 5)
	case 0xcf, 0xd3:
		return fixed(b, 9)
	case 0xca:
		if len(b) < 5 {
			return 0, false
		}
		f := float64(math.Float32frombits(binary.BigEndian.Uint32(b[1:5])))
		return 5, !math.IsNaN(f) && !math.IsInf(f, 0)
	case 0xcb:
		if len(b) < 9 {
			return 0, false
		}
		f := math.Float64frombits(binary.BigEndian.Uint64(b[1:9]))
		return 9, !math.IsNaN(f) && !math.IsInf(f, 0)
	case 0xc4, 0xd9: // bin8, str8
		if len(b) < 2 {
			return 0, false
		}
		return sized(b, 2, int(b[1]))
	case 0xc5, 0xda:
		if len(b) < 3 {
			return 0, false
		}
		return sized(b, 3, int(binary.BigEndian.Uint16(b[1:3])))
	case 0xc6, 0xdb:
		if len(b) < 5 {
			return 0, false
		}
		return sized(b, 5, int(binary.BigEndian.Uint32(b[1:5])))
	case 0xdc:
		if len(b) < 3 {
			return 0, false
		}
		return walkItems(b, 3, int(binary.BigEndian.Uint16(b[1:3])), false, depth)
	case 0xdd:
		if len(b) < 5 {
			return 0, false
		}
		return walkItems(b, 5, int(binary.BigEndian.Uint32(b[1:5])), false, depth)
	case 0xde:
		if len(b) < 3 {
			return 0, false
		}
		return walkItems(b, 3, int(binary.BigEndian.Uint16(b[1:3])), true, depth)
	case 0xdf:
		if len(b) < 5 {
			return 0, false
		}
		return walkItems(b, 5, int(binary.BigEndian.Uint32(b[1:5])), true, depth)
	}
	// ext (0xc7-0xc9, 0xd4-0xd8) and the never-used 0xc1.
	return 0, false
}

func fixed(b []byte, n int) (int, bool) { return n, len(b) >= n }

func sized(b []byte, head, n int) (int, bool) {
	if n < 0 || len(b)-head < n {
		return 0, false
	}
	return head + n, true
}

// walkItems walks n array items, or n key/value pairs with string keys.
func walkItems(b []byte, head, n int, isMap bool, depth int) (int, bool) {
	off := head
	if n < 0 || n > len(b) { // every item takes at least one byte
		return 0, false
	}
	for i := 0; i < n; i++ {
		if isMap {
			if off >= len(b) || !isStr(b[off]) {
				return 0, false
			}
			k, ok := jsonWalk(b[off:], depth+1)
			if !ok {
				return 0, false
			}
			off += k
		}
		v, ok := jsonWalk(b[off:], depth+1)
		if !ok {
			return 0, false
		}
		off += v
	}
	return off, true
}

func isStr(c byte) bool { return (c >= 0xa0 && c <= 0xbf) || c == 0xd9 || c == 0xda || c == 0xdb }
