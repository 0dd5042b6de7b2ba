package frame

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
	OpPing // app-level heartbeat: answered with pong
	OpAuth // a token for the gate (first message, or a refresh)
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
	Since   Since  // sub: the position a resuming subscriber has seen
	Token   []byte // auth: the token (a string's body)
}

// Since is a sub's since: the last offset the client saw in a channel, and
// the epoch it belonged to (as written, AppendEpoch's form).
type Since struct {
	Off   uint64
	Epoch []byte
	Set   bool
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

// MaxChannel is the longest channel name accepted.
const MaxChannel = 128

// opFields is what an envelope decoder found, before the field rules are
// applied (the same rules for both encodings).
type opFields struct {
	op, id, ch, data, since, token  []byte
	hasOp, hasCh, hasData, hasToken bool
	opIsStr, chIsStr, tokenIsStr    bool
}

// DecodeOp decodes one application message into op (reusing op's storage).
// Plain channel names decode without allocating; a JSON channel name or op
// written with escapes is unescaped into a fresh slice.
func DecodeOp(p []byte, enc Enc, op *Op) *OpError {
	var f opFields
	var e *OpError
	if enc == JSON {
		e = decodeJSON(p, &f)
	} else {
		e = decodeMsgPack(p, &f)
	}
	if e != nil {
		return e
	}
	*op = Op{Enc: enc, ID: f.id}
	switch {
	case !f.hasOp:
		return opErr(CodeBadRequest, "op missing", f.id)
	case !f.opIsStr:
		return opErr(CodeBadRequest, "op must be a string", f.id)
	}
	switch string(f.op) {
	case "sub":
		op.Kind = OpSub
	case "unsub":
		op.Kind = OpUnsub
	case "pub":
		op.Kind = OpPub
	case "ping":
		op.Kind = OpPing
		return nil
	case "auth":
		op.Kind = OpAuth
		switch {
		case !f.hasToken:
			return opErr(CodeBadRequest, "auth requires token", f.id)
		case !f.tokenIsStr:
			return opErr(CodeBadRequest, "token must be a string", f.id)
		}
		op.Token = f.token
		return nil
	default:
		return opErr(CodeUnknownOp, "unknown op", f.id)
	}
	if f.since != nil {
		if op.Kind != OpSub {
			return opErr(CodeBadRequest, "since is only for sub", f.id)
		}
		var ok bool
		if op.Since, ok = parseSince(f.since, enc); !ok {
			return opErr(CodeBadRequest, "since must be {off: unsigned integer, epoch: string}", f.id)
		}
	}
	switch {
	case !f.hasCh:
		return opErr(CodeBadRequest, "ch missing", f.id)
	case !f.chIsStr:
		return opErr(CodeBadRequest, "ch must be a string", f.id)
	case !ValidChannel(f.ch):
		return opErr(CodeBadChannel, "invalid channel name", f.id)
	case op.Kind == OpPub && !f.hasData:
		return opErr(CodeBadRequest, "pub requires data", f.id)
	}
	op.Ch, op.Data, op.HasData = f.ch, f.data, f.hasData
	return nil
}

func opErr(code int, msg string, id []byte) *OpError {
	return &OpError{Code: code, Msg: msg, ID: id}
}

// channelByte marks the bytes allowed in a channel name.
var channelByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "_.:@/=-" {
		t[c] = true
	}
	return t
}()

// ValidChannel reports whether name is a valid channel name: 1..128 bytes
// of [A-Za-z0-9_.:@/=-].
func ValidChannel(name []byte) bool {
	if len(name) == 0 || len(name) > MaxChannel {
		return false
	}
	for _, c := range name {
		if !channelByte[c] {
			return false
		}
	}
	return true
}
