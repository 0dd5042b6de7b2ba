package wsframe

import (
	"math/rand/v2"

	"github.com/gobwas/ws"
)

// AppendClient appends one frame of op carrying p, masked as RFC 6455 5.3
// requires of every client frame, and returns the extended buffer. fin
// false leaves the message open for continuation frames.
//
// The mask comes from math/rand/v2: it only has to be unpredictable to
// intermediaries, and a crypto/rand read per frame would cost the load
// generator a syscall per publish.
func AppendClient(dst []byte, op ws.OpCode, fin bool, p []byte) []byte {
	b0 := byte(op)
	if fin {
		b0 |= 0x80
	}
	dst = append(dst, b0)
	switch n := len(p); {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n < 1<<16:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		u := uint64(n)
		dst = append(dst, 0x80|127, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32), byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
	}
	m := rand.Uint32()
	mask := [4]byte{byte(m), byte(m >> 8), byte(m >> 16), byte(m >> 24)}
	dst = append(dst, mask[:]...)
	start := len(dst)
	dst = append(dst, p...)
	ws.Cipher(dst[start:], mask, 0)
	return dst
}

// Header is a frame header as it was on the wire.
type Header struct {
	Op     ws.OpCode
	Fin    bool
	Rsv    byte // the three RSV bits, 0..7
	Masked bool
	Mask   [4]byte
	Len    uint64 // payload bytes
	Size   int    // header bytes, mask included: the payload starts at b[Size]
}

// ParseHeader reads the header at the front of b. ok is false while b
// holds only part of it; nothing else is checked (a server frame should not
// be masked, but a client may choose to tolerate one).
//
// gobwas/ws reads headers from an io.Reader (ws.ReadHeader), which costs an
// allocation per frame and cannot tell "incomplete" from "broken" on a
// buffer that a read callback hands over; a load client parses thousands of
// frames a second out of such buffers, so this one works on the slice.
func ParseHeader(b []byte) (h Header, ok bool) {
	if len(b) < 2 {
		return h, false
	}
	h.Fin = b[0]&0x80 != 0
	h.Rsv = (b[0] >> 4) & 0x07
	h.Op = ws.OpCode(b[0] & 0x0f)
	h.Masked = b[1]&0x80 != 0
	h.Len = uint64(b[1] & 0x7f)
	h.Size = 2
	switch h.Len {
	case 126:
		if len(b) < 4 {
			return h, false
		}
		h.Len = uint64(b[2])<<8 | uint64(b[3])
		h.Size = 4
	case 127:
		if len(b) < 10 {
			return h, false
		}
		h.Len = 0
		for _, x := range b[2:10] {
			h.Len = h.Len<<8 | uint64(x)
		}
		h.Size = 10
	}
	if h.Masked {
		if len(b) < h.Size+4 {
			return h, false
		}
		copy(h.Mask[:], b[h.Size:h.Size+4])
		h.Size += 4
	}
	return h, true
}
