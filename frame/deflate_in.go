package frame

import (
	"errors"
	"io"
	"math"
	"sync"

	"github.com/gobwas/ws"
	"github.com/klauspost/compress/flate"
)

// Inbound permessage-deflate (RFC 7692 7.2.2). A compressed message is
// inflated in one call with an inflater borrowed from a pool and returned
// before the call ends: nothing stays with the connection. Contexts are
// never carried over (we negotiate client_no_context_takeover), so a client
// that refers back into an earlier message fails with 1007 like any other
// invalid data.

// inflateTail follows the payload into the inflater: the 00 00 ff ff that
// RFC 7692 7.2.2 restores, then an empty final stored block so that a
// complete message ends in io.EOF and a truncated one in an error.
const inflateTail = "\x00\x00\xff\xff\x01\x00\x00\xff\xff"

// tailReader reads p and then inflateTail. It is an io.ByteReader, so the
// inflater reads it directly instead of wrapping it in a bufio.Reader.
type tailReader struct {
	p []byte
	i int // position in p + inflateTail
}

func (r *tailReader) reset(p []byte) { r.p, r.i = p, 0 }

func (r *tailReader) Read(b []byte) (int, error) {
	n := 0
	if r.i < len(r.p) {
		n = copy(b, r.p[r.i:])
		r.i += n
	}
	if t := r.i - len(r.p); t >= 0 && n < len(b) {
		k := copy(b[n:], inflateTail[t:])
		r.i += k
		n += k
	}
	if n == 0 && len(b) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (r *tailReader) ReadByte() (byte, error) {
	switch t := r.i - len(r.p); {
	case t < 0:
		r.i++
		return r.p[r.i-1], nil
	case t < len(inflateTail):
		r.i++
		return inflateTail[t], nil
	}
	return 0, io.EOF
}

// inflater is one pooled decompressor with its source.
type inflater struct {
	src tailReader
	rd  io.ReadCloser // a flate reader; also a flate.Resetter
	rs  flate.Resetter
}

var inflaters = sync.Pool{New: func() any {
	z := &inflater{}
	z.rd = flate.NewReader(&z.src)
	z.rs = z.rd.(flate.Resetter)
	return z
}}

var errNoEnd = errors.New("frame: deflate data does not end")

// AppendInflate appends the inflated form of p, the payload of one
// compressed message (reassembled, unmasked, without the 00 00 ff ff tail),
// to dst. It stops as soon as the output would pass max bytes (<= 0:
// unbounded) and fails with 1009, so a small bomb costs at most max bytes
// of output and the work to produce them. Invalid deflate data, or invalid
// UTF-8 in a text message, fail with 1007.
//
// dst grows by doubling, never past len(dst)+max+1 bytes of capacity. On
// failure the returned slice is dst's prefix (the partial output is cut).
func AppendInflate(dst, p []byte, text bool, max int) ([]byte, *Fail) {
	if max <= 0 {
		max = math.MaxInt - 1
	}
	start := len(dst)
	limit := start + max + 1 // room for one byte past max: proof of overflow
	if limit < start {
		limit = math.MaxInt
	}
	z := inflaters.Get().(*inflater)
	z.src.reset(p)
	z.rs.Reset(&z.src, nil)
	var err error
	for {
		if len(dst) == cap(dst) {
			if len(dst) >= limit {
				break
			}
			dst = growInflate(dst, start, len(p), limit)
		}
		var n int
		n, err = z.rd.Read(dst[len(dst):min(cap(dst), limit)])
		dst = dst[:len(dst)+n]
		if err != nil || len(dst)-start > max {
			break
		}
	}
	z.src.reset(nil) // hold nothing of the caller's
	inflaters.Put(z)

	switch {
	case len(dst)-start > max:
		return dst[:start], &Fail{ws.StatusMessageTooBig, "inflated message too big"}
	case err == io.EOF:
	case err == nil:
		err = errNoEnd
		fallthrough
	default:
		return dst[:start], &Fail{ws.StatusInvalidFramePayloadData, "invalid deflate data: " + err.Error()}
	}
	if text && !validUTF8(dst[start:]) {
		return dst[:start], &Fail{ws.StatusInvalidFramePayloadData, "invalid utf-8 in text message"}
	}
	return dst, nil
}

// growInflate gives dst more capacity: double the output so far (at least
// 4x the compressed size, 512 bytes to start), capped at limit.
func growInflate(dst []byte, start, compressed, limit int) []byte {
	add := min(max(len(dst)-start, 4*compressed, 512), limit-len(dst))
	nb := make([]byte, len(dst), len(dst)+add)
	copy(nb, dst)
	return nb
}
