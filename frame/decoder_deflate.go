package frame

import "github.com/gobwas/ws"

// Decoder flags for permessage-deflate, after decoder.go's.
const (
	flagDeflate    = flagDone << (1 + iota) // negotiated: RSV1 allowed on a message's first frame
	flagCompressed                          // the open message had RSV1
)

// DeflateHandler is the Handler of a connection that negotiated
// permessage-deflate: compressed messages go to CompressedMessage, the rest
// to Message. An optional interface, so that Handlers without compression
// stay as they are and a type assertion per compressed message is the
// whole cost.
type DeflateHandler interface {
	Handler
	// CompressedMessage is a complete data message whose first frame had
	// RSV1: p is its deflate payload, unmasked and reassembled but not
	// checked as UTF-8 (compressed bytes are not text). Inflate it with
	// AppendInflate, which bounds the output and checks UTF-8 if text.
	CompressedMessage(text bool, p []byte)
}

// EnableDeflate tells the decoder that permessage-deflate was negotiated:
// from now on RSV1 on the first frame of a data message marks it
// compressed, and the handler passed to Feed must be a DeflateHandler.
// RSV1 elsewhere (control frames, continuations) still fails with 1002.
// Release clears it.
func (d *Decoder) EnableDeflate() { d.flags |= flagDeflate }

// Deflate reports whether EnableDeflate was called.
func (d *Decoder) Deflate() bool { return d.flags&flagDeflate != 0 }

// message delivers a complete data message to the right handler method.
func (d *Decoder) message(h Handler, text bool, p []byte) *Fail {
	if d.flags&flagCompressed == 0 {
		h.Message(text, p)
		return nil
	}
	dh, ok := h.(DeflateHandler)
	if !ok {
		return &Fail{ws.StatusInternalServerError, "compressed message for a handler that cannot inflate"}
	}
	dh.CompressedMessage(text, p)
	return nil
}
