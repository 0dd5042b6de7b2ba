package loadclient

import (
	"bytes"

	"github.com/starling-ws/starling/frame"
)

// permessage-deflate on the client side of a worker (`bench -compress`):
// the upgrade offers what browsers offer, and a frame that arrives
// compressed (RSV1) is inflated before it is classified, so latency and
// delivery counts are those of the messages; bytesIn stays what crossed
// the wire.

// deflateOffer is Chrome's and Firefox's offer.
const deflateOffer = "permessage-deflate; client_max_window_bits"

// maxInflated bounds one inflated frame (the server's -max-message is at
// most 64 MiB).
const maxInflated = 64 << 20

var extHeader = []byte("\r\nsec-websocket-extensions:")

// agreedDeflate reports whether a 101's head (without its final blank
// line) agreed to permessage-deflate.
func agreedDeflate(head []byte) bool {
	h := bytes.ToLower(head)
	i := bytes.Index(h, extHeader)
	if i < 0 {
		return false
	}
	v := h[i+len(extHeader):]
	if j := bytes.Index(v, []byte("\r\n")); j >= 0 {
		v = v[:j]
	}
	return bytes.Contains(v, []byte("permessage-deflate"))
}

// inflate returns the message of a compressed frame, in cl.zbuf (valid
// until the next call: the worker's engine has one loop, so calls never
// overlap).
func (cl *client) inflate(p []byte, text bool) ([]byte, bool) {
	out, f := frame.AppendInflate(cl.zbuf[:0], p, text, maxInflated)
	if f != nil {
		return nil, false
	}
	cl.compressed.Add(1)
	if cap(out) <= 1<<20 {
		cl.zbuf = out[:0]
	}
	return out, true
}
