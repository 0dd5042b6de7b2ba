package cluster

import "github.com/starling-ws/starling/frame"

// A channel name is one subject token. Of the channel alphabet
// ([A-Za-z0-9_.:@/=-]) only '.' cannot stand in a NATS token (it separates
// tokens), so it becomes '~', a byte no channel name holds: the mapping is
// a bijection, keeps the length (a 128-byte name is a 128-byte token), and
// keeps subjects readable in NATS monitoring ("starling.ch.room~1"). A
// token can never be a wildcard ('*' and '>' are not in the alphabet).
// base64url would also work but makes names a third longer and opaque.
const dotSub = '~'

// appendToken appends ch's token to dst. ch must be a valid channel name.
func appendToken(dst, ch []byte) []byte {
	for _, c := range ch {
		if c == '.' {
			c = dotSub
		}
		dst = append(dst, c)
	}
	return dst
}

// appendChannel appends the channel that tok names to dst; false if tok is
// not the token of a valid channel name (a foreign publisher on the bus).
func appendChannel(dst []byte, tok string) ([]byte, bool) {
	n := len(dst)
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch c {
		case dotSub:
			c = '.'
		case '.':
			return dst[:n], false
		}
		dst = append(dst, c)
	}
	return dst, frame.ValidChannel(dst[n:])
}

func tokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// validPrefix: dot-separated tokens of [A-Za-z0-9_-], 1..64 bytes.
func validPrefix(p string) bool {
	if len(p) == 0 || len(p) > 64 || p[0] == '.' || p[len(p)-1] == '.' {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '.' {
			if p[i-1] == '.' {
				return false
			}
			continue
		}
		if !tokenByte(p[i]) {
			return false
		}
	}
	return true
}

// validStreamName: 1..64 bytes of [A-Za-z0-9_-] (JetStream forbids dots,
// wildcards, separators and spaces).
func validStreamName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenByte(s[i]) {
			return false
		}
	}
	return true
}
