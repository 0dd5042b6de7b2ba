package frame

import "encoding/binary"

// A streaming UTF-8 validator: a DFA over byte classes, so a text message
// can be checked fragment by fragment (a code point may straddle two
// fragments) and rejected at the first byte that cannot start or continue
// a well-formed sequence (RFC 3629: no overlongs, no surrogates, nothing
// above U+10FFFF).

const (
	utf8Accept uint8 = 0 // between code points
	utf8Reject uint8 = 8 // sticky
)

// Byte classes.
const (
	clASCII = iota // 00..7F
	clC80          // 80..8F continuation
	clC90          // 90..9F continuation
	clCA0          // A0..BF continuation
	clL2           // C2..DF lead of 2
	clE0           // E0: next must be A0..BF (no overlong)
	clL3           // E1..EC, EE..EF lead of 3
	clED           // ED: next must be 80..9F (no surrogates)
	clF0           // F0: next must be 90..BF (no overlong)
	clL4           // F1..F3 lead of 4
	clF4           // F4: next must be 80..8F (<= U+10FFFF)
	clBad          // C0, C1, F5..FF never appear
	numClasses
)

// States: 0 accept, 1..3 need that many continuation bytes, 4..7 need a
// restricted first continuation (after E0, ED, F0, F4), 8 reject.
var (
	utf8Class [256]uint8
	utf8Trans [9 * numClasses]uint8
)

func init() {
	for b := range 256 {
		var c uint8
		switch {
		case b < 0x80:
			c = clASCII
		case b < 0x90:
			c = clC80
		case b < 0xA0:
			c = clC90
		case b < 0xC0:
			c = clCA0
		case b < 0xC2:
			c = clBad
		case b < 0xE0:
			c = clL2
		case b == 0xE0:
			c = clE0
		case b == 0xED:
			c = clED
		case b < 0xF0:
			c = clL3
		case b == 0xF0:
			c = clF0
		case b < 0xF4:
			c = clL4
		case b == 0xF4:
			c = clF4
		default:
			c = clBad
		}
		utf8Class[b] = c
	}
	for i := range utf8Trans {
		utf8Trans[i] = utf8Reject
	}
	set := func(s uint8, next uint8, classes ...uint8) {
		for _, c := range classes {
			utf8Trans[int(s)*numClasses+int(c)] = next
		}
	}
	set(0, 0, clASCII)
	set(0, 1, clL2)
	set(0, 2, clL3)
	set(0, 3, clL4)
	set(0, 4, clE0)
	set(0, 5, clED)
	set(0, 6, clF0)
	set(0, 7, clF4)
	set(1, 0, clC80, clC90, clCA0)
	set(2, 1, clC80, clC90, clCA0)
	set(3, 2, clC80, clC90, clCA0)
	set(4, 1, clCA0)
	set(5, 1, clC80, clC90)
	set(6, 2, clC90, clCA0)
	set(7, 2, clC80)
}

// utf8Step advances state s over p. The result is utf8Accept if p ends
// between code points, utf8Reject (sticky) once a byte is invalid, and
// otherwise an intermediate state to carry into the next fragment.
func utf8Step(s uint8, p []byte) uint8 {
	i := 0
	for i < len(p) {
		if s == utf8Accept {
			// ASCII runs are the common case: 8 bytes per step.
			for i+8 <= len(p) && binary.LittleEndian.Uint64(p[i:])&0x8080808080808080 == 0 {
				i += 8
			}
			if i == len(p) {
				break
			}
		}
		s = utf8Trans[int(s)*numClasses+int(utf8Class[p[i]])]
		if s == utf8Reject {
			return s
		}
		i++
	}
	return s
}

// validUTF8 reports whether p is complete, well-formed UTF-8.
func validUTF8(p []byte) bool { return utf8Step(utf8Accept, p) == utf8Accept }
