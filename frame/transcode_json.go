package frame

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"
	"unsafe"
)

// JSON to MessagePack. A MessagePack container starts with its element
// count, which JSON gives only at the closing bracket: each container gets
// a one-byte header slot when it opens, and when it closes with 16 or more
// elements its content moves right by 2 or 4 bytes to widen the header.
// The move touches only containers that large, so the output stays in its
// shortest form; in count mode nothing moves. Open containers sit on a
// fixed stack, as in the other direction.

// jsonOpen is an open container: where its header slot is (relative to
// the start of the output) and how many elements it has so far, with
// openObject set for an object.
type jsonOpen struct {
	start, count uint32
}

const openObject = 1 << 31

func (t *transcoder) fromJSON(src []byte) error {
	var stack [jsonToMPDepth]jsonOpen
	base := len(t.out)
	depth := 0
	i := skipWS(src, 0)
	var err error
	for {
		if i >= len(src) {
			return errConvMalformed
		}
		switch c := src[i]; c {
		case '{', '[':
			if depth == len(stack) {
				return errConvDepth
			}
			if !t.reserve(1) {
				return errConvTooLarge
			}
			o := jsonOpen{start: uint32(len(t.out) - base)}
			if c == '{' {
				o.count = openObject
			}
			if t.emit {
				t.out = append(t.out, 0)
			}
			stack[depth] = o
			depth++
			i = skipWS(src, i+1)
			if i < len(src) && src[i] == c+2 { // '{'+2 == '}', '['+2 == ']'
				i++
				if err := t.closeJSON(o, base); err != nil {
					return err
				}
				depth--
				break // an empty container is a complete value
			}
			if c == '{' {
				if i, err = t.jsonKey(src, i); err != nil {
					return err
				}
			}
			continue
		case '"':
			i, err = t.jsonStr(src, i)
		case 't':
			i, err = t.jsonLiteral(src, i, "true", 0xc3)
		case 'f':
			i, err = t.jsonLiteral(src, i, "false", 0xc2)
		case 'n':
			i, err = t.jsonLiteral(src, i, "null", 0xc0)
		default:
			i, err = t.jsonNumber(src, i)
		}
		if err != nil {
			return err
		}
		// A value is complete: count it, then go on to the next element or
		// close the container (itself a complete value of its parent).
		for {
			i = skipWS(src, i)
			if depth == 0 {
				if i != len(src) {
					return errConvMalformed // trailing bytes
				}
				return nil
			}
			top := &stack[depth-1]
			top.count++
			if i >= len(src) {
				return errConvMalformed
			}
			obj := top.count&openObject != 0
			if src[i] == ',' {
				i = skipWS(src, i+1)
				if obj {
					if i, err = t.jsonKey(src, i); err != nil {
						return err
					}
				}
				break
			}
			if obj && src[i] != '}' || !obj && src[i] != ']' {
				return errConvMalformed
			}
			i++
			if err := t.closeJSON(*top, base); err != nil {
				return err
			}
			depth--
		}
	}
}

// closeJSON writes the header of a closed container into its slot,
// widening the slot if the count needs more than one byte.
func (t *transcoder) closeJSON(o jsonOpen, base int) error {
	n := o.count &^ openObject
	h := 1
	switch {
	case n >= 1<<16:
		h = 5
	case n >= 16:
		h = 3
	}
	if !t.reserve(h - 1) {
		return errConvTooLarge
	}
	if !t.emit {
		return nil
	}
	at := base + int(o.start)
	if h > 1 {
		t.out = append(t.out, make([]byte, h-1)...)
		copy(t.out[at+h:], t.out[at+1:len(t.out)-(h-1)])
	}
	// fixmap 0x80, map16 0xde, map32 0xdf; fixarray 0x90, array16 0xdc, array32 0xdd
	fix, c16, c32 := byte(0x90), byte(0xdc), byte(0xdd)
	if o.count&openObject != 0 {
		fix, c16, c32 = 0x80, 0xde, 0xdf
	}
	switch h {
	case 1:
		t.out[at] = fix | byte(n)
	case 3:
		t.out[at] = c16
		binary.BigEndian.PutUint16(t.out[at+1:], uint16(n))
	default:
		t.out[at] = c32
		binary.BigEndian.PutUint32(t.out[at+1:], n)
	}
	return nil
}

// jsonKey converts the member name at src[i] and steps over the colon
// after it, returning the index of the member's value.
func (t *transcoder) jsonKey(src []byte, i int) (int, error) {
	if i >= len(src) || src[i] != '"' {
		return i, errConvMalformed
	}
	i, err := t.jsonStr(src, i)
	if err != nil {
		return i, err
	}
	i = skipWS(src, i)
	if i >= len(src) || src[i] != ':' {
		return i, errConvMalformed
	}
	return skipWS(src, i+1), nil
}

func (t *transcoder) jsonLiteral(src []byte, i int, lit string, code byte) (int, error) {
	if !bytes.HasPrefix(src[i:], []byte(lit)) {
		return i, errConvMalformed
	}
	return i + len(lit), t.writeByte(code)
}

// jsonStr converts the string literal at src[i] to a str.
func (t *transcoder) jsonStr(src []byte, i int) (int, error) {
	end, size, esc, err := scanJSONLit(src, i)
	if err != nil {
		return i, err
	}
	if !t.reserve(mpStrLen(size)) {
		return i, errConvTooLarge
	}
	if t.emit {
		t.out = appendMPStrHeader(t.out, size)
		if esc {
			t.out = appendJSONUnescaped(t.out, src[i+1:end-1])
		} else {
			t.out = append(t.out, src[i+1:end-1]...)
		}
	}
	return end, nil
}

// jsonNumber converts the number at src[i] (RFC 8259 grammar, checked
// here): an integer that fits int64 or uint64 to its shortest int form,
// anything else (and -0) to a float64.
func (t *transcoder) jsonNumber(src []byte, i int) (int, error) {
	start := i
	neg := src[i] == '-'
	if neg {
		i++
	}
	digits := func() int {
		k := i
		for i < len(src) && '0' <= src[i] && src[i] <= '9' {
			i++
		}
		return i - k
	}
	switch {
	case i < len(src) && src[i] == '0':
		i++
	case digits() == 0:
		return i, errConvMalformed
	}
	intEnd, isInt := i, true
	if i < len(src) && src[i] == '.' {
		i++
		if digits() == 0 {
			return i, errConvMalformed
		}
		isInt = false
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		i++
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		if digits() == 0 {
			return i, errConvMalformed
		}
		isInt = false
	}
	if isInt {
		// "-0" stays a float64 -0, as JavaScript reads it: an int would
		// lose the sign, and the value would not survive a round trip.
		if v, ok := parseDecimal(src[start:intEnd], neg); ok && !(neg && v == 0) {
			if !neg {
				if !t.reserve(mpUintLen(v)) {
					return i, errConvTooLarge
				}
				if t.emit {
					t.out = appendMPUint(t.out, v)
				}
				return i, nil
			}
			if !t.reserve(mpIntLen(-int64(v))) {
				return i, errConvTooLarge
			}
			if t.emit {
				t.out = appendMPInt(t.out, -int64(v))
			}
			return i, nil
		}
	}
	// The text is not retained by ParseFloat (its errors copy it), so it
	// is viewed in place rather than copied to a string.
	f, err := strconv.ParseFloat(unsafe.String(&src[start], i-start), 64)
	if err != nil || !finite(f) {
		return i, errConvRange
	}
	if !t.reserve(9) {
		return i, errConvTooLarge
	}
	if t.emit {
		t.out = binary.BigEndian.AppendUint64(append(t.out, 0xcb), math.Float64bits(f))
	}
	return i, nil
}

// parseDecimal reads an integer's digits (after a '-' when neg), false
// if the value does not fit uint64 (or, negative, int64).
func parseDecimal(b []byte, neg bool) (uint64, bool) {
	if neg {
		b = b[1:]
	}
	var v uint64
	for _, c := range b {
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, !neg || v <= 1<<63
}
