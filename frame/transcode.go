package frame

import "math"

// Transcoding between MessagePack and JSON, for a publish whose subscribers
// use the other encoding. It is written by hand, as a streaming converter
// over bytes, rather than through a generic decoder (vmihailenco/msgpack,
// encoding/json) and a tree of interface values, because:
//   - it runs once per cross-encoding publish on the server's hot path, and
//     a generic tree allocates per node: a 64 KiB array of 65,000 empty
//     maps cost ~14 ms and 65,000 allocations that way (issue 14 item 8);
//   - the output must be bounded while it is produced: an expansion (a str
//     of control bytes grows 6x as JSON escapes) is stopped at the
//     caller's limit, never materialised first and measured after;
//   - fidelity: a generic tree sorts or merges map keys and turns invalid
//     UTF-8 into U+FFFD (two distinct keys became duplicates); here keys
//     keep their order and what JSON cannot carry is refused;
//   - one walk both validates and sizes, so the publish path can refuse a
//     value and learn its exact converted size without building it.
// No library does this bounded, order-preserving, allocation-free walk.
//
// Conversion rules (docs/protocol.md, "Conversion between encodings"):
// MessagePack to JSON: nil, bool, ints, floats, str, arrays and maps map
// to their JSON counterparts (float32 keeps its float32 value); bin becomes
// a padded standard base64 string; map keys must be str. Refused: ext
// values (timestamps included), non-str keys, NaN and ±Inf, str (key or
// value) that is not valid UTF-8, nesting deeper than 64.
// JSON to MessagePack: integers (no '.', 'e', 'E') that fit int64 or
// uint64 become ints in their shortest form, every other number (and -0)
// a float64; strings str, objects maps, arrays arrays. Refused: numbers
// beyond float64's range, strings that would not be valid UTF-8 (a lone
// surrogate escape), nesting deeper than 256.
// Both directions keep map keys in their order, repeated keys included.

// CodeTooLarge is the err code for data that passes the size limit once
// converted.
const CodeTooLarge = 413

// ConvError says why a value cannot be converted: Code is CodeBadRequest
// (not representable in the other encoding, or malformed) or CodeTooLarge
// (the output would pass the limit). Msg is meant for the err reply. The
// values are shared and read-only.
type ConvError struct {
	Code int
	Msg  string
}

func (e *ConvError) Error() string { return e.Msg }

var (
	errConvTooLarge  = &ConvError{CodeTooLarge, "data too large once converted for subscribers of the other encoding"}
	errConvMalformed = &ConvError{CodeBadRequest, "malformed data"}
	errConvDepth     = &ConvError{CodeBadRequest, "data nested too deeply to convert"}
	errConvExt       = &ConvError{CodeBadRequest, "data not representable in JSON: MessagePack ext value (timestamps included)"}
	errConvKey       = &ConvError{CodeBadRequest, "data not representable in JSON: map key is not a string"}
	errConvFloat     = &ConvError{CodeBadRequest, "data not representable in JSON: NaN or infinite float"}
	errConvUTF8      = &ConvError{CodeBadRequest, "data not representable: string is not valid UTF-8"}
	errConvRange     = &ConvError{CodeBadRequest, "data not representable in MessagePack: number out of float64 range"}
)

const (
	mpToJSONDepth = 64  // most containers open at once, MessagePack to JSON
	jsonToMPDepth = 256 // the same, JSON to MessagePack

	// maxConvInput keeps every count and offset of a conversion within 31
	// bits (an item takes at least one input byte; output is at most 9
	// bytes per 3 input bytes). Far above any -max-message.
	maxConvInput = 1<<28 - 1
)

// AppendTranscoded appends src, one value in encoding from, converted to
// the other encoding. At most limit bytes are appended (math.MaxInt: no
// bound); the output never grows past it, even transiently. On error the
// result has dst's length (bytes beyond it may have been written) and the
// error is a *ConvError. It does not allocate when dst has room.
func AppendTranscoded(dst, src []byte, from Enc, limit int) ([]byte, error) {
	t := transcoder{out: dst, limit: limit, emit: true}
	if err := t.run(src, from); err != nil {
		return t.out[:len(dst)], err
	}
	return t.out, nil
}

// TranscodedLen is what AppendTranscoded would append, computed by the same
// walk without writing anything: it validates a publish and sizes its
// converted form up front. Errors are those AppendTranscoded would return.
func TranscodedLen(src []byte, from Enc, limit int) (int, error) {
	t := transcoder{limit: limit}
	if err := t.run(src, from); err != nil {
		return 0, err
	}
	return t.n, nil
}

// transcoder is one conversion. With emit unset it only counts: n is the
// output size either way, and every write is checked against limit
// before anything is appended.
type transcoder struct {
	out   []byte
	n     int
	limit int
	emit  bool
}

func (t *transcoder) run(src []byte, from Enc) error {
	if len(src) > maxConvInput {
		return errConvTooLarge
	}
	if t.limit < 0 {
		t.limit = 0
	}
	if from == MsgPack {
		return t.fromMsgPack(src)
	}
	return t.fromJSON(src)
}

// reserve accounts for k more output bytes, false if they pass the limit.
// The caller appends them when t.emit.
func (t *transcoder) reserve(k int) bool {
	if k > t.limit-t.n {
		return false
	}
	t.n += k
	return true
}

func (t *transcoder) write(b []byte) error {
	if !t.reserve(len(b)) {
		return errConvTooLarge
	}
	if t.emit {
		t.out = append(t.out, b...)
	}
	return nil
}

func (t *transcoder) writeByte(c byte) error {
	if !t.reserve(1) {
		return errConvTooLarge
	}
	if t.emit {
		t.out = append(t.out, c)
	}
	return nil
}

// finite reports whether f is neither NaN nor ±Inf.
func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
