package frame

// STUB FILE: the signatures below are the contract used by server/. The
// frame implementation replaces the bodies (and may split this file by idea:
// handshake.go, decoder.go, utf8.go, op.go, build.go ...).

import "github.com/gobwas/ws"

// ---- handshake ----

// MaxRequest is the largest HTTP upgrade request accepted (431 beyond it).
const MaxRequest = 8 << 10

// Reject is a handshake refusal: the HTTP status and a short reason for
// metrics ("bad_method", "bad_version", "bad_request", "not_found", "full",
// "too_large").
type Reject struct {
	Status int
	Reason string
}

// ParseUpgrade looks at the bytes received so far on a new connection. If
// they do not yet hold a complete request head (and are within MaxRequest)
// it returns n == 0 and rej == nil: wait for more. Otherwise it either
// accepts (rej == nil, n = length of the request head, key = the client's
// Sec-WebSocket-Key) or rejects. Bytes after n are WebSocket frames.
func ParseUpgrade(b []byte, path string) (n int, key []byte, rej *Reject) { panic("stub") }

// AppendAccept appends the 101 Switching Protocols response for key.
func AppendAccept(dst, key []byte) []byte { panic("stub") }

// AppendReject appends a complete HTTP error response for rej (with
// "Sec-WebSocket-Version: 13" on 426, "Allow: GET" on 405, Connection: close).
func AppendReject(dst []byte, rej *Reject) []byte { panic("stub") }

// ---- frames in ----

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
type Decoder struct {
	_ [0]func() // not comparable; fields are the implementation's
}

// Feed consumes all of b, calling h for every complete event in order. It
// returns non-nil if the peer broke the protocol; then the caller sends a
// close with f.Code and stops feeding. maxMessage bounds a (reassembled)
// message's payload.
func (d *Decoder) Feed(b []byte, maxMessage int, h Handler) (f *Fail) { panic("stub") }

// Fragmented reports whether a fragmented message is being reassembled (the
// caller runs the fragment deadline while it is).
func (d *Decoder) Fragmented() bool { panic("stub") }

// Buffered is the number of bytes the decoder holds (memory accounting).
func (d *Decoder) Buffered() int { panic("stub") }

// Release returns any pooled buffer; the decoder is reusable afterwards.
func (d *Decoder) Release() { panic("stub") }

// ---- frames out ----

// Prebuilt control frames (package variables, built once).
var (
	CloseNormal      []byte // 1000
	CloseGoingAway   []byte // 1001 "server shutting down"
	CloseProtocol    []byte // 1002
	CloseBadData     []byte // 1007
	ClosePolicy      []byte // 1008
	CloseSlow        []byte // 1008 "slow consumer: outbound queue over bound"
	CloseTooBig      []byte // 1009
	CloseTimeout     []byte // 1008 "heartbeat timeout" / deadline
	PingFrame        []byte // empty ping
)

// AppendClose appends a close frame with code and reason (reason trimmed to
// fit 125 bytes).
func AppendClose(dst []byte, code ws.StatusCode, reason string) []byte { panic("stub") }

// AppendPong appends a pong frame echoing p (len(p) <= 125).
func AppendPong(dst, p []byte) []byte { panic("stub") }

// ---- application messages ----

// Enc is the encoding of an application message.
type Enc uint8

const (
	MsgPack Enc = iota // binary frames
	JSON               // text frames
)

// OpKind is a client operation.
type OpKind uint8

const (
	OpInvalid OpKind = iota
	OpSub
	OpUnsub
	OpPub
)

// Op is a decoded client operation. Its slices point into the message
// payload (valid only while the payload is). ID and Data are raw encoded
// values in Enc (spliced back verbatim into replies/pushes).
type Op struct {
	Kind    OpKind
	Enc     Enc
	ID      []byte // raw value, nil if absent
	Ch      []byte
	Data    []byte // raw value; nil if absent
	HasData bool
}

// Error codes carried by err replies (documented in docs/protocol.md).
const (
	CodeBadRequest = 400 // malformed op, missing or wrong-typed field
	CodeUnknownOp  = 404 // op not sub/unsub/pub
	CodeBadChannel = 422 // channel name fails validation
	CodeTooMany    = 429 // per-connection subscription limit
)

// OpError is a malformed operation: the connection stays up and gets an
// err reply with Code and Msg (and the op's id when it could be read).
type OpError struct {
	Code int
	Msg  string
	ID   []byte
}

// DecodeOp decodes one application message into op (reusing op's storage).
func DecodeOp(p []byte, enc Enc, op *Op) *OpError { panic("stub") }

// ValidChannel reports whether name is a valid channel name.
func ValidChannel(name []byte) bool { panic("stub") }

// AppendAck appends a complete WebSocket frame holding {op:"ack", id}.
func AppendAck(dst []byte, enc Enc, id []byte) []byte { panic("stub") }

// AppendErr appends a complete WebSocket frame holding {op:"err", id, code, msg}.
func AppendErr(dst []byte, enc Enc, id []byte, code int, msg string) []byte { panic("stub") }

// AppendMsg appends a complete WebSocket frame holding {op:"msg", ch, off,
// data} in encoding enc, where data is a raw value in dataEnc (converted if
// the encodings differ).
func AppendMsg(dst []byte, enc Enc, ch []byte, off uint64, data []byte, dataEnc Enc) ([]byte, error) {
	panic("stub")
}
