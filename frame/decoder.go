package frame

import (
	"encoding/binary"
	"math"

	"github.com/gobwas/ws"
)

// Handler receives decoded events. Slices are valid only during the call.
type Handler interface {
	// Message is a complete data message: unmasked, reassembled, and valid
	// UTF-8 if text.
	Message(text bool, p []byte)
	Ping(p []byte)
	Pong(p []byte)
	// Close is a valid close frame from the peer; code is 1005 if it
	// carried no status.
	Close(code ws.StatusCode, reason []byte)
}

// Fail says why the connection must fail: the close code to send (1002,
// 1007, 1009) and a reason for logs and the close frame.
type Fail struct {
	Code   ws.StatusCode
	Reason string
}

// Decoder is one connection's frame-reading state. Its zero value is ready
// (server side: masking required). It holds a buffer only while a frame or
// a fragmented message is incomplete.
//
// Size: 48 bytes on 64-bit platforms (TestDecoderSize keeps it <= 64).
//
// Buffer layout: buf[:mlen] is the message being reassembled (unmasked
// payload of its data frames so far); buf[mlen:] holds the bytes of the
// current frame that cannot be used in place: a partial header, or the
// partial payload of a control frame. A control frame interleaved in a
// fragmented message therefore shares the message's buffer.
type Decoder struct {
	_      [0]func() // not comparable
	buf    []byte
	mlen   int
	remain int64 // payload bytes of the current frame still to come
	mask   [4]byte
	moff   uint8     // payload bytes of the current frame seen so far, mod 4
	op     ws.OpCode // opcode of the current frame while in its payload
	flags  uint8
	utf8   uint8 // validator state of the open text message
}

const (
	flagPayload = 1 << iota // inside the payload of the current frame
	flagFin                 // the current frame has FIN set
	flagFrag                // a message was started without FIN and awaits continuation
	flagText                // the open message is text
	flagDone                // a close arrived or the protocol failed: ignore the rest
)

// Feed consumes all of b, calling h for every complete event in order. It
// returns non-nil if the peer broke the protocol; then the caller sends a
// close with f.Code and stops feeding. maxMessage bounds a (reassembled)
// message's payload (<= 0: unbounded).
//
// b is unmasked in place. After a Close event, or a failure, the rest of b
// and every later Feed are ignored.
func (d *Decoder) Feed(b []byte, maxMessage int, h Handler) (f *Fail) {
	if d.flags&flagDone != 0 {
		return nil
	}
	if maxMessage <= 0 || maxMessage > math.MaxInt-bufSlack {
		maxMessage = math.MaxInt - bufSlack
	}
	limit := maxMessage + bufSlack
	for {
		if d.flags&flagPayload != 0 {
			var stop bool
			if b, stop, f = d.payload(b, h, limit); stop || f != nil {
				return d.fail(f)
			}
			if d.flags&flagPayload != 0 {
				return nil // b ran out inside the payload
			}
		}
		// A header: straight from b when the buffer holds nothing of it.
		var hb []byte
		if len(d.buf) == d.mlen {
			if len(b) == 0 {
				return nil
			}
			n := headerLen(b)
			if n == 0 || len(b) < n {
				d.append(b, limit)
				return nil
			}
			hb, b = b[:n], b[n:]
		} else {
			for {
				pend, need := len(d.buf)-d.mlen, 2
				if pend >= 2 {
					need = headerLen(d.buf[d.mlen:])
				}
				if pend >= need {
					break
				}
				if len(b) == 0 {
					return nil
				}
				k := min(need-pend, len(b))
				d.append(b[:k], limit)
				b = b[k:]
			}
			hb = d.buf[d.mlen:]
		}
		hd, f := parseHeader(hb, d.flags&flagFrag != 0, d.flags&flagDeflate != 0)
		if f != nil {
			return d.fail(f)
		}
		if len(d.buf) > d.mlen {
			d.buf = d.buf[:d.mlen]
			d.maybeRelease()
		}

		if hd.OpCode.IsData() {
			if hd.Length > int64(maxMessage-d.mlen) {
				return d.fail(&Fail{ws.StatusMessageTooBig, "message too big"})
			}
			if hd.OpCode != ws.OpContinuation {
				d.utf8 = utf8Accept
				d.flags &^= flagText | flagCompressed
				if hd.OpCode == ws.OpText {
					d.flags |= flagText
				}
				if hd.Rsv != 0 { // RSV1, checked by parseHeader
					d.flags |= flagCompressed
				}
			}
		}

		// Whole frame present, nothing to reassemble: use it in place.
		if int64(len(b)) >= hd.Length && (hd.OpCode.IsControl() || (hd.Fin && d.flags&flagFrag == 0)) {
			p := b[:hd.Length]
			b = b[hd.Length:]
			ws.Cipher(p, hd.Mask, 0)
			if hd.OpCode.IsControl() {
				stop, f := d.control(hd.OpCode, p, h)
				if stop || f != nil {
					return d.fail(f)
				}
				continue
			}
			text := hd.OpCode == ws.OpText
			if text && d.flags&flagCompressed == 0 && !validUTF8(p) {
				return d.fail(&Fail{ws.StatusInvalidFramePayloadData, "invalid utf-8 in text message"})
			}
			if f := d.message(h, text, p); f != nil {
				return d.fail(f)
			}
			continue
		}

		d.op, d.mask, d.moff, d.remain = hd.OpCode, hd.Mask, 0, hd.Length
		d.flags |= flagPayload
		d.flags &^= flagFin
		if hd.Fin {
			d.flags |= flagFin
		} else if hd.OpCode.IsData() {
			d.flags |= flagFrag
		}
	}
}

// payload consumes what b holds of the current frame's payload and
// completes the frame if it can. stop reports a close.
func (d *Decoder) payload(b []byte, h Handler, limit int) (rest []byte, stop bool, f *Fail) {
	k := int(min(d.remain, int64(len(b))))
	chunk := b[:k]
	ws.Cipher(chunk, d.mask, int(d.moff))
	d.moff = uint8((int(d.moff) + k) & 3)
	d.remain -= int64(k)
	if d.op.IsData() && d.flags&(flagText|flagCompressed) == flagText {
		// Fail fast: a bad byte is reported when it arrives, not at FIN.
		if d.utf8 = utf8Step(d.utf8, chunk); d.utf8 == utf8Reject {
			return nil, false, &Fail{ws.StatusInvalidFramePayloadData, "invalid utf-8 in text message"}
		}
	}
	d.append(chunk, limit)
	if d.op.IsData() {
		d.mlen += k
	}
	if d.remain > 0 {
		return nil, false, nil
	}
	d.flags &^= flagPayload
	rest = b[k:]

	if d.op.IsControl() {
		stop, f = d.control(d.op, d.buf[d.mlen:], h)
		if d.buf != nil {
			d.buf = d.buf[:d.mlen]
		}
		d.maybeRelease()
		return rest, stop, f
	}
	if d.flags&flagFin == 0 {
		return rest, false, nil
	}
	text := d.flags&flagText != 0
	if text && d.utf8 != utf8Accept {
		return nil, false, &Fail{ws.StatusInvalidFramePayloadData, "invalid utf-8 in text message"}
	}
	d.flags &^= flagFrag
	f = d.message(h, text, d.buf[:d.mlen])
	d.mlen = 0
	d.buf = d.buf[:0]
	d.maybeRelease()
	return rest, false, f
}

// control delivers a complete control frame. stop reports a close.
func (d *Decoder) control(op ws.OpCode, p []byte, h Handler) (stop bool, f *Fail) {
	switch op {
	case ws.OpPing:
		h.Ping(p)
	case ws.OpPong:
		h.Pong(p)
	case ws.OpClose:
		switch len(p) {
		case 0:
			d.flags |= flagDone
			h.Close(ws.StatusNoStatusRcvd, nil)
			return true, nil
		case 1:
			return false, &Fail{ws.StatusProtocolError, "close payload of 1 byte"}
		}
		code := ws.StatusCode(binary.BigEndian.Uint16(p))
		if !validCloseCode(code) {
			return false, &Fail{ws.StatusProtocolError, "invalid close code"}
		}
		if !validUTF8(p[2:]) {
			return false, &Fail{ws.StatusInvalidFramePayloadData, "invalid utf-8 in close reason"}
		}
		d.flags |= flagDone
		h.Close(code, p[2:])
		return true, nil
	}
	return false, nil
}

// validCloseCode reports whether a peer may send code in a close frame
// (RFC 6455 7.4 and the IANA registry): 1000-1003, 1007-1014 and
// 3000-4999. 1004 is reserved, 1005, 1006 and 1015 must never be sent.
// gobwas/ws's IsProtocolDefined stops at 1011 and would fail 1012
// (service restart), 1013 (try again later) and 1014 (bad gateway).
func validCloseCode(code ws.StatusCode) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	}
	return code >= 3000 && code <= 4999
}

// fail marks the decoder dead when f is non-nil and passes f through.
func (d *Decoder) fail(f *Fail) *Fail {
	d.flags |= flagDone
	return f
}

// headerLen is the length of the frame header starting b, or 0 if b is
// too short to tell.
func headerLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	n := 2
	if b[1]&0x80 != 0 {
		n += 4
	}
	switch b[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	return n
}

// parseHeader decodes a complete header and checks it with gobwas/ws for
// a server (masked frames, no extensions) in the given fragmentation state.
// With deflate, RSV1 is allowed on the first frame of a data message
// (RFC 7692 6.1) and left in h.Rsv.
func parseHeader(b []byte, fragmented, deflate bool) (h ws.Header, f *Fail) {
	h.Fin = b[0]&0x80 != 0
	h.Rsv = (b[0] >> 4) & 7
	h.OpCode = ws.OpCode(b[0] & 0x0f)
	h.Masked = b[1]&0x80 != 0
	i := 2
	switch l := b[1] & 0x7f; l {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(b[2:]))
		i = 4
	case 127:
		if b[2]&0x80 != 0 {
			return h, &Fail{ws.StatusProtocolError, ws.ErrHeaderLengthMSB.Error()}
		}
		h.Length = int64(binary.BigEndian.Uint64(b[2:]))
		i = 10
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		copy(h.Mask[:], b[i:])
	}
	s := ws.StateServerSide
	if fragmented {
		s |= ws.StateFragmented
	}
	check := h
	if deflate && h.Rsv == 4 {
		if h.OpCode.IsControl() || h.OpCode == ws.OpContinuation {
			return h, &Fail{ws.StatusProtocolError, "rsv1 on a control or continuation frame"}
		}
		check.Rsv = 0
	}
	if err := ws.CheckHeader(check, s); err != nil {
		return h, &Fail{ws.StatusProtocolError, err.Error()}
	}
	return h, nil
}

// bufSlack is what the buffer may hold beyond a message of maxMessage
// bytes: a partial header (at most maxHeaderLen) or a partial control
// frame payload (at most 125 bytes), never both (a control frame's header
// is dropped once parsed).
const bufSlack = maxHeaderLen + ws.MaxControlFramePayloadSize

// maxHeaderLen is the longest frame header: 64-bit length and a mask.
const maxHeaderLen = 14

// append copies p into the buffer, growing it from the pools by what has
// actually arrived (never by a length the peer declared) and never beyond
// limit (maxMessage + bufSlack): doubling, or a pool's size class, could
// otherwise reach 4x maxMessage (issue 9).
func (d *Decoder) append(p []byte, limit int) {
	if len(p) == 0 {
		return
	}
	if need := len(d.buf) + len(p); need > cap(d.buf) {
		n := min(max(need, 2*cap(d.buf)), max(need, limit))
		nb := getBuf(n)
		if cap(nb) > limit {
			// The class above n is over the bound: an exact buffer instead
			// (putBuf files it under the class below its capacity).
			putBuf(nb)
			nb = make([]byte, 0, n)
		}
		nb = append(nb, d.buf...)
		if d.buf != nil {
			putBuf(d.buf)
		}
		d.buf = nb
	}
	d.buf = append(d.buf, p...)
}

// maybeRelease returns the buffer once it holds nothing the decoder needs.
func (d *Decoder) maybeRelease() {
	if d.buf != nil && len(d.buf) == 0 && d.flags&(flagFrag|flagPayload) == 0 {
		putBuf(d.buf)
		d.buf = nil
	}
}

// Fragmented reports whether a fragmented message is being reassembled.
func (d *Decoder) Fragmented() bool { return d.flags&flagFrag != 0 }

// Pending reports whether anything the peer started is incomplete: a
// partial frame header, a partial payload of any frame (a single FIN
// frame included), or a fragmented message awaiting its continuation. The
// caller keeps a deadline running while it is (issue 14 item 3: a FIN
// frame trickled one byte at a time pinned its buffer forever). False once
// the decoder is done (a close arrived or the protocol failed).
func (d *Decoder) Pending() bool {
	return d.flags&flagDone == 0 && (d.flags&(flagPayload|flagFrag) != 0 || len(d.buf) > d.mlen)
}

// Buffered is the number of bytes the decoder holds (memory accounting):
// the capacity of its pooled buffer, 0 when it has none.
func (d *Decoder) Buffered() int { return cap(d.buf) }

// Release returns any pooled buffer; the decoder is reusable afterwards
// (as a zero Decoder).
func (d *Decoder) Release() {
	if d.buf != nil {
		putBuf(d.buf)
	}
	*d = Decoder{}
}
