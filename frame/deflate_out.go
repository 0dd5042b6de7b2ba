package frame

import (
	"encoding/binary"
	"errors"
	"slices"
	"sync"

	"github.com/klauspost/compress/flate"
)

// Outbound permessage-deflate, compressed once per publish and per
// encoding (RFC 7692 7.2.1), in two phases like the plain msg builder:
//
//  1. Outside every lock, AppendDeflatedPart compresses the data part (the
//     data value and what follows it, '}' in JSON) as a fresh deflate
//     stream ending in a sync flush whose 00 00 ff ff is removed, after
//     DeflateRoom reserved bytes.
//  2. Under the channel's lock, once the offset is known, FinishDeflatedMsg
//     writes in front of it, right-aligned: the WebSocket header with RSV1,
//     and a stored (BTYPE=00) deflate block holding the prefix
//     {"op":"msg","ch":..,"off":N,"data": verbatim.
//
// The payload is a valid deflate block sequence: the stored block ends on a
// byte boundary, where the compressed stream starts, and neither sets BFINAL.
// The data stream's back-references stay within the data part, at most
// 32 KiB back (hence server_max_window_bits=15 only, see deflate_negotiate.go).
//
// Library: github.com/klauspost/compress/flate at level 5, measured against
// compress/flate (BenchmarkDeflateLib*: chat and odds JSON of 1, 16, 64 KiB,
// MessagePack of 1 and 16 KiB; medians of 5 on a shared 2-core machine).
// It compressed 3-8x faster than compress/flate level 6 at 91-100% of its
// ratio, and beat compress/flate level 1 on both speed and ratio for every
// payload. Its inflater was as fast or faster and allocated nothing, where
// compress/flate's allocated 7-52 times per message of 16 KiB or more.
// Level 5 over level 1 (or over the stateless mode, which ratios like level
// 1): 3-17% fewer bytes for 1.3-2.5x the CPU, paid once per publish while
// the bytes are paid once per subscriber. One pooled level-5 writer holds
// about 1.07 MB once used (DeflaterBytes), live only while a publish is
// being compressed.

const deflateLevel = 5

// storedHeaderLen is a stored block's header at a byte boundary: BFINAL=0
// and BTYPE=00 in one byte, then LEN and NLEN.
const storedHeaderLen = 5

// maxMsgPrefix is the longest msg prefix for a channel name of MaxChannel
// bytes that needs no escaping (ValidChannel) and the largest offset:
// JSON's {"op":"msg","ch":"..","off":N,"data": beats MessagePack's.
const maxMsgPrefix = len(`{"op":"msg","ch":"`) + MaxChannel + len(`","off":`) + 20 + len(`,"data":`)

// DeflateRoom is the room AppendDeflatedPart reserves in front of the
// compressed data: the largest WebSocket header, the stored block's header
// and the msg prefix for any valid channel.
const DeflateRoom = 10 + storedHeaderLen + maxMsgPrefix

// deflater is one pooled compressor writing into an appendWriter.
type deflater struct {
	out appendWriter
	fw  *flate.Writer
}

var deflaters = sync.Pool{New: func() any {
	z := &deflater{}
	z.fw, _ = flate.NewWriter(&z.out, deflateLevel) // a valid level cannot fail
	return z
}}

var errNoGain = errors.New("frame: compressed data not smaller")

// appendWriter appends to b up to limit bytes, and fails beyond: output
// that large is not worth keeping, and stopping early never reallocates.
type appendWriter struct {
	b     []byte
	limit int
}

func (w *appendWriter) Write(p []byte) (int, error) {
	if len(w.b)+len(p) > w.limit {
		return 0, errNoGain
	}
	w.b = append(w.b, p...)
	return len(p), nil
}

// AppendDeflatedPart appends DeflateRoom bytes of room and then the
// compressed data part of a msg in encoding enc (data already in enc) to
// dst, for FinishDeflatedMsg. It compresses only when the data part is at
// least minSize bytes, and keeps the result only when the compressed
// payload is smaller than the plain one; otherwise it returns dst
// unchanged and ok == false, and the plain frame is all there is.
//
// The compressor is borrowed from a pool for the call. dst is grown once,
// to room plus the plain size; with that capacity given it does not
// allocate.
func AppendDeflatedPart(dst []byte, enc Enc, data []byte, minSize int) (out []byte, ok bool) {
	n := len(data)
	if enc == JSON {
		n++ // the closing '}'
	}
	if n < minSize || len(data) == 0 {
		return dst, false
	}
	start := len(dst)
	dst = slices.Grow(dst, DeflateRoom+n)
	z := deflaters.Get().(*deflater)
	// Worth keeping: stored header + compressed < plain, so the stream with
	// its 4-byte sync marker must stay under plain + 4 - storedHeaderLen.
	z.out.b, z.out.limit = dst[:start+DeflateRoom], start+DeflateRoom+n+4-storedHeaderLen-1
	z.fw.Reset(&z.out)
	_, err := z.fw.Write(data)
	if err == nil && enc == JSON {
		_, err = z.fw.Write(closeBrace)
	}
	if err == nil {
		err = z.fw.Flush()
	}
	out = z.out.b
	z.out.b = nil // hold nothing of the caller's
	deflaters.Put(z)

	if err != nil || !hasSyncTail(out) {
		return dst[:start], false
	}
	return out[:len(out)-4], true
}

var closeBrace = []byte{'}'}

// hasSyncTail reports whether b ends with the empty stored block of a sync
// flush (RFC 7692 7.2.1 removes its 00 00 ff ff).
func hasSyncTail(b []byte) bool {
	n := len(b)
	return n >= 4 && b[n-4] == 0 && b[n-3] == 0 && b[n-2] == 0xff && b[n-1] == 0xff
}

// FinishDeflatedMsg completes a compressed msg frame in buf, whose first
// room bytes are free and the rest is a compressed data part from
// AppendDeflatedPart (room == DeflateRoom): it writes the RSV1 header, a
// stored block and the prefix for ch and off right-aligned in front of the
// data and returns the frame, a subslice of buf. It only writes buf[:room];
// meant to run under the lock that hands out off. If the prefix does not
// fit (a channel name over MaxChannel), the frame is built in a new buffer.
func FinishDeflatedMsg(buf []byte, room int, enc Enc, ch []byte, off uint64) []byte {
	p := msgPrefixLen(enc, ch, off)
	payload := storedHeaderLen + p + len(buf) - room
	hs := headerSize(payload)
	start := room - hs - storedHeaderLen - p
	if start < 0 {
		nb := make([]byte, hs+storedHeaderLen+p+len(buf)-room)
		copy(nb[hs+storedHeaderLen+p:], buf[room:])
		buf, start, room = nb, 0, hs+storedHeaderLen+p
	}
	putHeader(buf[start:start+hs], frameOp(enc), payload)
	buf[start] |= 0x40 // RSV1: this message is compressed
	sb := buf[start+hs : start+hs+storedHeaderLen]
	sb[0] = 0 // BFINAL=0, BTYPE=00, padding to the byte boundary
	binary.LittleEndian.PutUint16(sb[1:], uint16(p))
	binary.LittleEndian.PutUint16(sb[3:], ^uint16(p))
	appendMsgPrefix(buf[start+hs+storedHeaderLen:start+hs+storedHeaderLen:room], enc, ch, off)
	return buf[start:]
}
