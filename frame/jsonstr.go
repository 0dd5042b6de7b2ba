package frame

import (
	"bytes"
	"encoding/binary"
	"unicode/utf16"
	"unicode/utf8"
)

// JSON string literals for the transcoder, both ways: sizing and escaping
// bytes as a literal (MessagePack str to JSON), and checking, sizing and
// decoding a literal (JSON to MessagePack str). Both validate UTF-8 and
// skip runs of plain ASCII eight bytes at a time.

// jsonStrSize is the length of s as a JSON string literal (quotes and
// escapes as appendJSONEscaped writes them), and false if s is not valid
// UTF-8. Runs of plain ASCII are checked eight bytes at a time.
func jsonStrSize(s []byte) (int, bool) {
	n := 2 + len(s)
	for i := 0; i < len(s); {
		for i+8 <= len(s) && plainASCII8(binary.LittleEndian.Uint64(s[i:])) {
			i += 8
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				n++
			case c < 0x20:
				n += 5
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			return 0, false
		}
		i += size
	}
	return n, true
}

// plainASCII8 reports whether the eight bytes of w are all ASCII that a
// JSON string carries as is (no control byte, '"' or '\\').
func plainASCII8(w uint64) bool {
	return w&hiBits == 0 && !hasLess(w, 0x20) && !hasZero(w^('"'*loBits)) && !hasZero(w^('\\'*loBits))
}

const (
	loBits = 0x0101010101010101
	hiBits = 0x8080808080808080
)

// hasZero reports whether a byte of x is zero; hasLess whether a byte of
// x is below n (n <= 128, every byte of x below 0x80). Exact as to
// whether, not which (the usual word-at-a-time tests).
func hasZero(x uint64) bool         { return (x-loBits)&^x&hiBits != 0 }
func hasLess(x uint64, n byte) bool { return (x-uint64(n)*loBits)&^x&hiBits != 0 }

// appendJSONEscaped appends s (valid UTF-8) as a JSON string literal with
// the escapes appendJSONStr uses: \" \\ and \u00XX for control bytes.
func appendJSONEscaped(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i, c := range s {
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		if c < 0x20 {
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		} else {
			dst = append(dst, '\\', c)
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// scanJSONLit checks the string literal at src[i] == '"' and returns the
// index after its closing quote, the length of its decoded bytes and
// whether it holds escapes. A lone surrogate escape is errConvUTF8: the
// str would not be valid UTF-8.
func scanJSONLit(src []byte, i int) (end, size int, esc bool, err error) {
	for i++; i < len(src); {
		for i+8 <= len(src) && plainASCII8(binary.LittleEndian.Uint64(src[i:])) {
			i += 8
			size += 8
		}
		if i == len(src) {
			break
		}
		c := src[i]
		switch {
		case c == '"':
			return i + 1, size, esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(src) {
				return 0, 0, false, errConvMalformed
			}
			switch src[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
				size++
				continue
			case 'u':
			default:
				return 0, 0, false, errConvMalformed
			}
			r, n := jsonEscRune(src[i:])
			switch n {
			case 0:
				return 0, 0, false, errConvMalformed
			case -1:
				return 0, 0, false, errConvUTF8
			}
			i += n
			size += utf8.RuneLen(r)
		case c < 0x20:
			return 0, 0, false, errConvMalformed
		case c < utf8.RuneSelf:
			i++
			size++
		default:
			r, n := utf8.DecodeRune(src[i:])
			if r == utf8.RuneError && n == 1 {
				return 0, 0, false, errConvUTF8
			}
			i += n
			size += n
		}
	}
	return 0, 0, false, errConvMalformed
}

// jsonEscRune decodes the \uXXXX escape at the start of b, with the low
// half that must follow a high surrogate. n is the bytes used: 0 if the
// escape is malformed, -1 if it is a lone surrogate.
func jsonEscRune(b []byte) (r rune, n int) {
	r, ok := hex4(b)
	switch {
	case !ok:
		return 0, 0
	case !utf16.IsSurrogate(r):
		return r, 6
	case r >= 0xdc00: // a low half first
		return 0, -1
	}
	if len(b) < 12 || b[6] != '\\' || b[7] != 'u' {
		return 0, -1
	}
	lo, ok := hex4(b[6:])
	if !ok {
		return 0, 0
	}
	if r = utf16.DecodeRune(r, lo); r == utf8.RuneError {
		return 0, -1
	}
	return r, 12
}

// hex4 reads the four hex digits of the \uXXXX at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 6 {
		return 0, false
	}
	var r rune
	for _, c := range b[2:6] {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// appendJSONUnescaped appends the decoded bytes of a string literal's
// body that scanJSONLit accepted.
func appendJSONUnescaped(dst, lit []byte) []byte {
	for {
		k := bytes.IndexByte(lit, '\\')
		if k < 0 {
			return append(dst, lit...)
		}
		dst = append(dst, lit[:k]...)
		lit = lit[k:]
		switch c := lit[1]; c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, n := jsonEscRune(lit)
			dst = utf8.AppendRune(dst, r)
			lit = lit[n:]
			continue
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
		lit = lit[2:]
	}
}
