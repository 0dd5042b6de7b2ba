package frame

import (
	"encoding/base64"
	"math"
	"strconv"
)

// MessagePack to JSON. Containers are not recursed into: each open one is a
// uint64 on a fixed stack (items left, keys and values counted separately,
// plus two flags), so nesting costs no call and no allocation.

const (
	openMap   = 1 << 63       // the container is a map
	openFirst = 1 << 62       // no item of it has been written yet
	openLeft  = openFirst - 1 // items left (a map of n pairs has 2n)
)

func (t *transcoder) fromMsgPack(src []byte) error {
	var stack [mpToJSONDepth]uint64
	depth, i := 0, 0
	var num [32]byte // a formatted number
	for {
		if i >= len(src) {
			return errConvMalformed
		}
		c := src[i]
		i++
		var err error
		switch {
		case c <= 0x7f: // positive fixint
			err = t.write(strconv.AppendUint(num[:0], uint64(c), 10))
		case c >= 0xe0: // negative fixint
			err = t.write(strconv.AppendInt(num[:0], int64(int8(c)), 10))
		case c == 0x80: // empty fixmap, common enough to skip the stack
			err = t.write([]byte("{}"))
		case c == 0x90:
			err = t.write([]byte("[]"))
		case c <= 0x9f: // fixmap, fixarray
			n, isMap := uint64(c&0x0f), c <= 0x8f
			if depth, err = t.openMP(stack[:], depth, n, isMap, len(src)-i); err != nil {
				return err
			}
		case c <= 0xbf: // fixstr
			i, err = t.mpStr(src, i, int(c&0x1f))
		default:
			i, err = t.mpOther(src, i, c, stack[:], &depth, num[:0])
		}
		if err != nil {
			return err
		}
		// Close every container whose items are all written, then put the
		// separator before the next item.
		for {
			if depth == 0 {
				if i != len(src) {
					return errConvMalformed // trailing bytes
				}
				return nil
			}
			if stack[depth-1]&openLeft != 0 {
				break
			}
			end := byte(']')
			if stack[depth-1]&openMap != 0 {
				end = '}'
			}
			if err := t.writeByte(end); err != nil {
				return err
			}
			depth--
		}
		top := &stack[depth-1]
		isMap, first := *top&openMap != 0, *top&openFirst != 0
		key := isMap && *top&1 == 0 // 2n items: keys at even counts left
		*top = (*top - 1) &^ openFirst
		switch {
		case isMap && !key:
			err = t.writeByte(':')
		case !first:
			err = t.writeByte(',')
		}
		if err != nil {
			return err
		}
		if key {
			if i >= len(src) {
				return errConvMalformed
			}
			if c := src[i]; !(c >= 0xa0 && c <= 0xbf || c >= 0xd9 && c <= 0xdb) {
				return errConvKey
			}
		}
	}
}

// openMP starts an array or map of n elements (pairs for a map) with
// left input bytes to hold them.
func (t *transcoder) openMP(stack []uint64, depth int, n uint64, isMap bool, left int) (int, error) {
	items := n
	if isMap {
		items = 2 * n
	}
	if items > uint64(left) { // every item takes at least one byte
		return depth, errConvMalformed
	}
	if depth == len(stack) {
		return depth, errConvDepth
	}
	open, bracket := items|openFirst, byte('[')
	if isMap {
		open, bracket = open|openMap, '{'
	}
	stack[depth] = open
	return depth + 1, t.writeByte(bracket)
}

// mpOther converts the value whose type code c (0xc0..0xdf) was just read;
// i is the index after c. num is scratch room for a formatted number.
func (t *transcoder) mpOther(src []byte, i int, c byte, stack []uint64, depth *int, num []byte) (int, error) {
	// The width of what follows the type code: a fixed payload or a
	// length field.
	var w int
	switch c {
	case 0xc0:
		return i, t.write([]byte("null"))
	case 0xc2:
		return i, t.write([]byte("false"))
	case 0xc3:
		return i, t.write([]byte("true"))
	case 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return i, errConvExt
	case 0xc1:
		return i, errConvMalformed
	case 0xc4, 0xcc, 0xd0, 0xd9:
		w = 1
	case 0xc5, 0xcd, 0xd1, 0xda, 0xdc, 0xde:
		w = 2
	case 0xc6, 0xca, 0xce, 0xd2, 0xdb, 0xdd, 0xdf:
		w = 4
	case 0xcb, 0xcf, 0xd3:
		w = 8
	}
	if len(src)-i < w {
		return i, errConvMalformed
	}
	v := beUint(src[i:], w)
	i += w
	var err error
	switch c {
	case 0xcc, 0xcd, 0xce, 0xcf:
		err = t.write(strconv.AppendUint(num, v, 10))
	case 0xd0:
		err = t.write(strconv.AppendInt(num, int64(int8(v)), 10))
	case 0xd1:
		err = t.write(strconv.AppendInt(num, int64(int16(v)), 10))
	case 0xd2:
		err = t.write(strconv.AppendInt(num, int64(int32(v)), 10))
	case 0xd3:
		err = t.write(strconv.AppendInt(num, int64(v), 10))
	case 0xca:
		f := float64(math.Float32frombits(uint32(v)))
		if !finite(f) {
			return i, errConvFloat
		}
		err = t.write(appendJSONFloat(num, f, 32))
	case 0xcb:
		f := math.Float64frombits(v)
		if !finite(f) {
			return i, errConvFloat
		}
		err = t.write(appendJSONFloat(num, f, 64))
	case 0xd9, 0xda, 0xdb:
		i, err = t.mpStr(src, i, int(v))
	case 0xc4, 0xc5, 0xc6:
		i, err = t.mpBin(src, i, int(v))
	case 0xdc, 0xdd:
		*depth, err = t.openMP(stack, *depth, v, false, len(src)-i)
	case 0xde, 0xdf:
		*depth, err = t.openMP(stack, *depth, v, true, len(src)-i)
	}
	return i, err
}

// mpStr writes the n-byte str at src[i:] as a JSON string.
func (t *transcoder) mpStr(src []byte, i, n int) (int, error) {
	if n > len(src)-i {
		return i, errConvMalformed
	}
	s := src[i : i+n]
	size, ok := jsonStrSize(s)
	switch {
	case !ok:
		return i, errConvUTF8
	case !t.reserve(size):
		return i, errConvTooLarge
	case !t.emit:
	case size == len(s)+2:
		t.out = append(append(append(t.out, '"'), s...), '"')
	default:
		t.out = appendJSONEscaped(t.out, s)
	}
	return i + n, nil
}

// mpBin writes the n-byte bin at src[i:] as a base64 JSON string.
func (t *transcoder) mpBin(src []byte, i, n int) (int, error) {
	if n > len(src)-i {
		return i, errConvMalformed
	}
	if !t.reserve(base64.StdEncoding.EncodedLen(n) + 2) {
		return i, errConvTooLarge
	}
	if t.emit {
		t.out = append(t.out, '"')
		t.out = base64.StdEncoding.AppendEncode(t.out, src[i:i+n])
		t.out = append(t.out, '"')
	}
	return i + n, nil
}

// appendJSONFloat formats a finite f as JavaScript (and encoding/json)
// do: shortest round-trip digits, plain notation for 1e-6 <= |f| < 1e21,
// exponent notation otherwise with a two-digit-minimum exponent trimmed
// (1e-07 -> 1e-7). bits is 32 for a float32, whose shortest digits differ.
func appendJSONFloat(dst []byte, f float64, bits int) []byte {
	format := byte('f')
	if a := math.Abs(f); a != 0 {
		if bits == 64 && (a < 1e-6 || a >= 1e21) || bits == 32 && (float32(a) < 1e-6 || float32(a) >= 1e21) {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if n := len(dst); format == 'e' && n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
		dst[n-2] = dst[n-1]
		dst = dst[:n-1]
	}
	return dst
}
