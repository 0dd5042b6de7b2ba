package frame

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// transcodeBoth runs the conversion both ways (emitting and counting) and
// checks they agree on the error and the size.
func transcodeBoth(t testing.TB, src []byte, from Enc, limit int) ([]byte, error) {
	t.Helper()
	out, err := AppendTranscoded(nil, src, from, limit)
	n, cerr := TranscodedLen(src, from, limit)
	if err != cerr || (err == nil && n != len(out)) {
		t.Fatalf("%x from %d: AppendTranscoded %d bytes, %v; TranscodedLen %d, %v", src, from, len(out), err, n, cerr)
	}
	if err != nil {
		if _, ok := err.(*ConvError); !ok {
			t.Fatalf("error %T %v is not a *ConvError", err, err)
		}
	}
	return out, err
}

func TestTranscodeMsgPackToJSON(t *testing.T) {
	f := func(name string, src []byte, want string, wantErr error) {
		t.Helper()
		out, err := transcodeBoth(t, src, MsgPack, math.MaxInt)
		if err != wantErr || err == nil && string(out) != want {
			t.Errorf("%s (%x): got %s, %v; want %s, %v", name, src, out, err, want, wantErr)
		}
	}
	f("nil", mpVal(nil), `null`, nil)
	f("bools", mpVal([]any{true, false}), `[true,false]`, nil)
	f("fixints", []byte{0x93, 0x00, 0x7f, 0xe0}, `[0,127,-32]`, nil)
	f("sized ints", mpVal([]any{uint8(200), uint16(60000), uint32(4e9), uint64(1 << 63), int8(-100), int16(-30000), int32(-2e9), int64(math.MinInt64)}),
		`[200,60000,4000000000,9223372036854775808,-100,-30000,-2000000000,-9223372036854775808]`, nil)
	f("non-shortest ints", []byte{0x94, 0xcc, 0x01, 0xd3, 0, 0, 0, 0, 0, 0, 0, 5, 0xd0, 0x05, 0xcf, 0, 0, 0, 0, 0, 0, 0, 0}, `[1,5,5,0]`, nil)
	f("floats", mpVal([]any{1.5, math.Copysign(0, -1), 1e21, 1e-7, 123456789.0, float32(0.1), float32(1e-7)}), `[1.5,-0,1e+21,1e-7,123456789,0.1,1e-7]`, nil)
	f("str", mpVal("héllo \"q\" \\ \x01\n€😀"), `"héllo \"q\" \\ \u0001\u000a€😀"`, nil)
	f("str8/16/32", []byte{0x93, 0xd9, 1, 'a', 0xda, 0, 1, 'b', 0xdb, 0, 0, 0, 1, 'c'}, `["a","b","c"]`, nil)
	f("bin to base64", mpVal([]byte{0, 1, 2, 0xff}), `"AAEC/w=="`, nil)
	f("empty bin", mpVal([]byte{}), `""`, nil)
	f("map keys keep their order", mpMap("b", 1, "a", "<&>", "c", []any{}), `{"b":1,"a":"<&>","c":[]}`, nil)
	f("repeated keys kept", mpMap("k", 1, "k", 2), `{"k":1,"k":2}`, nil)
	f("nested", mpVal([]any{nil, true, -5, 1.5, "s", map[string]any{}}), `[null,true,-5,1.5,"s",{}]`, nil)
	f("map16/array16", []byte{0xde, 0, 1, 0xa1, 'k', 0xdc, 0, 2, 1, 2}, `{"k":[1,2]}`, nil)

	f("ext", []byte{0xd4, 1, 2}, "", errConvExt)
	f("ext nested", []byte{0x92, 0x01, 0xd4, 1, 2}, "", errConvExt)
	f("timestamp", mpVal(mustTime()), "", errConvExt)
	f("ext8", []byte{0x91, 0xc7, 1, 5, 0}, "", errConvExt)
	f("int key", mpMap(1, "x"), "", errConvKey)
	f("bin key", []byte{0x81, 0xc4, 1, 'k', 1}, "", errConvKey)
	f("NaN", []byte{0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1}, "", errConvFloat)
	f("+Inf float32", []byte{0xca, 0x7f, 0x80, 0, 0}, "", errConvFloat)
	f("invalid utf-8 value", mpVal("a\xffb"), "", errConvUTF8)
	f("invalid utf-8 key", mpMap("k\xc0", 1), "", errConvUTF8)
	f("surrogate in str", mpVal("\xed\xa0\x80"), "", errConvUTF8)
	f("truncated", []byte{0x92, 0x01}, "", errConvMalformed)
	f("truncated str", []byte{0xa5, 'a'}, "", errConvMalformed)
	f("declared count beyond input", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}, "", errConvMalformed)
	f("trailing", []byte{0x01, 0x02}, "", errConvMalformed)
	f("never used 0xc1", []byte{0xc1}, "", errConvMalformed)
	f("empty", nil, "", errConvMalformed)
	f("64 deep", nest(64, []byte{0x91}, 0x01), strings.Repeat("[", 64)+"1"+strings.Repeat("]", 64), nil)
	f("65 deep", nest(65, []byte{0x91}, 0x01), "", errConvDepth)
}

func TestTranscodeJSONToMsgPack(t *testing.T) {
	f := func(name, src, want string, wantErr error) {
		t.Helper()
		out, err := transcodeBoth(t, []byte(src), JSON, math.MaxInt)
		if err != wantErr || err == nil && hex.EncodeToString(out) != want {
			t.Errorf("%s (%s): got %x, %v; want %s, %v", name, src, out, err, want, wantErr)
		}
	}
	f("int", `5`, "05", nil)
	f("negative int", `-200`, "d1ff38", nil)
	f("-0 keeps its sign as a float", `-0`, "cb8000000000000000", nil)
	f("0 is an int", `0`, "00", nil)
	f("big int", `18446744073709551615`, "cfffffffffffffffff", nil)
	f("min int64", `-9223372036854775808`, "d38000000000000000", nil)
	f("beyond uint64 is float", `18446744073709551616`, "cb43f0000000000000", nil)
	f("below int64 is float", `-9223372036854775809`, "cbc3e0000000000000", nil)
	f("float", `1.5`, "cb3ff8000000000000", nil)
	f("exponent is float", `1e2`, "cb4059000000000000", nil)
	f("1.0 is float", `1.0`, "cb3ff0000000000000", nil)
	f("underflow is 0", `1e-400`, "cb0000000000000000", nil)
	f("string", `"hi"`, "a26869", nil)
	f("empty string", `""`, "a0", nil)
	f("escapes", `"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"`, "af61225c2f080c0a0d09c3a9f09f9880", nil)
	f("raw utf-8", `"é😀"`, "a6c3a9f09f9880", nil)
	f("str8", `"`+strings.Repeat("x", 40)+`"`, "d928"+strings.Repeat("78", 40), nil)
	f("object keeps key order", `{"b":[true,null],"a":1}`, "82a16292c3c0a16101", nil)
	f("whitespace", " { \"a\" :\t[ 1 ,\n2 ] , \"b\" : false } ", "82a161920102a162c2", nil)
	f("empty containers", `[{},[],{"a":{}}]`, "93809081a16180", nil)
	f("16 elements widen the header", "["+strings.Repeat("0,", 15)+"0]", "dc0010"+strings.Repeat("00", 16), nil)
	f("nested widening", `[[`+strings.Repeat("1,", 15)+`1],2]`, "92dc0010"+strings.Repeat("01", 16)+"02", nil)
	f("16 members", "{"+strings.Repeat(`"k":1,`, 15)+`"k":1}`, "de0010"+strings.Repeat("a16b01", 16), nil)
	f("true/false/null", `[true,false,null]`, "93c3c2c0", nil)

	f("out of range", `1e400`, "", errConvRange)
	f("out of range nested", `[1,-1e400]`, "", errConvRange)
	f("lone high surrogate", `"\ud83d"`, "", errConvUTF8)
	f("lone high surrogate then text", `"\ud83dxxxxxx"`, "", errConvUTF8)
	f("low surrogate first", `"\ude00\ud83d"`, "", errConvUTF8)
	f("invalid raw utf-8", "\"\xff\"", "", errConvUTF8)
	for _, bad := range []string{`{"a":`, `1 2`, `[1,]`, `{"a" 1}`, `{1:2}`, `01`, `1.`, `.5`, `-`, `1e`, `+1`, `tru`, `nul`, `"a`,
		"\"\x01\"", `"\q"`, `"\u12g4"`, `[1}`, `{"a":1]`, `[`, ``, ` `, `{"a":1,}`, `NaN`, `Infinity`} {
		f("malformed "+bad, bad, "", errConvMalformed)
	}
	f("256 deep", strings.Repeat("[", 256)+strings.Repeat("]", 256), strings.Repeat("91", 255)+"90", nil)
	f("257 deep", strings.Repeat("[", 257)+strings.Repeat("]", 257), "", errConvDepth)
}

// nest wraps inner in n containers whose one-byte header is open.
func nest(n int, open []byte, inner ...byte) []byte {
	return append(bytes.Repeat(open, n), inner...)
}

func mustTime() any {
	var v any
	// A MessagePack timestamp (ext -1), as vmihailenco encodes time.Time.
	if err := msgpack.Unmarshal([]byte{0xd6, 0xff, 0, 0, 0, 1}, &v); err != nil {
		panic(err)
	}
	return v
}

// Issue 14 item 2: a 65,502-byte str of 0xff bytes became 392,874 bytes of
// JSON ("\ufffd" per byte). Invalid UTF-8 is now refused, and an expansion
// that is valid (control bytes, 6x as \u00XX) stops at the limit without
// the output passing it.
func TestTranscodeInvalidUTF8Refused(t *testing.T) {
	data := mpVal(string(bytes.Repeat([]byte{0xff}, 65502)))
	if out, err := transcodeBoth(t, data, MsgPack, math.MaxInt); err != errConvUTF8 {
		t.Fatalf("65,502 bytes of 0xff: %d bytes, %v; want %v", len(out), err, errConvUTF8)
	}
	ctl := mpVal(string(bytes.Repeat([]byte{0x01}, 65502)))
	const limit = 64 << 10
	dst := make([]byte, 0, limit)
	out, err := AppendTranscoded(dst, ctl, MsgPack, limit)
	if err != errConvTooLarge || err.(*ConvError).Code != CodeTooLarge {
		t.Fatalf("control bytes: %v, want too large (413)", err)
	}
	if cap(out) != limit || len(out) != 0 {
		t.Fatalf("output grew past the limit: len %d cap %d", len(out), cap(out))
	}
	if n, err := TranscodedLen(ctl, MsgPack, math.MaxInt); err != nil || n != 6*65502+2 {
		t.Fatalf("unbounded size %d, %v", n, err)
	}
}

// Issue 14 item 9: two distinct invalid-UTF-8 keys both became "\ufffd",
// a JSON object with a duplicate key. They are refused, and valid keys
// keep their order (a generic map sorted them).
func TestTranscodeDuplicateKeys(t *testing.T) {
	if out, err := transcodeBoth(t, mpMap("\xff", 1, "\xfe", 2), MsgPack, math.MaxInt); err != errConvUTF8 {
		t.Fatalf("two invalid-UTF-8 keys: %q, %v", out, err)
	}
	if out, err := transcodeBoth(t, mpMap("b", 1, "a", 2), MsgPack, math.MaxInt); err != nil || string(out) != `{"b":1,"a":2}` {
		t.Fatalf("key order: %q, %v", out, err)
	}
}

// Every size is exact: at the limit it converts, one byte below it is 413
// and the output never grows past the limit.
func TestTranscodeLimit(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 300 {
		v := fixStrings(randomValue(rng, 3))
		for _, c := range []struct {
			src  []byte
			from Enc
		}{{mpVal(v), MsgPack}, {jsonVal(v), JSON}} {
			size, err := TranscodedLen(c.src, c.from, math.MaxInt)
			if err != nil {
				t.Fatalf("%x: %v", c.src, err)
			}
			if out, err := AppendTranscoded(make([]byte, 3, 3+size), c.src, c.from, size); err != nil || len(out) != 3+size || cap(out) != 3+size {
				t.Fatalf("at the limit: %v, len %d cap %d, size %d", err, len(out), cap(out), size)
			}
			for _, limit := range []int{size - 1, size / 2, 0, -1} {
				dst := make([]byte, 3, 3+max(limit, 0))
				out, err := AppendTranscoded(dst, c.src, c.from, limit)
				if err != errConvTooLarge || len(out) != 3 || cap(out) != cap(dst) {
					t.Fatalf("limit %d of %d: %v, len %d cap %d", limit, size, err, len(out), cap(out))
				}
				if _, err := TranscodedLen(c.src, c.from, limit); err != errConvTooLarge {
					t.Fatalf("TranscodedLen limit %d of %d: %v", limit, size, err)
				}
			}
		}
	}
}

// The conversion means what the libraries mean: a random value encoded by
// vmihailenco/msgpack and converted reads back through encoding/json as
// the same value, and the other way round.
func TestTranscodeAgainstLibraries(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for range 2000 {
		v := fixStrings(randomValue(rng, 4))
		mp, js := mpVal(v), jsonVal(v)
		for _, c := range []struct {
			src  []byte
			from Enc
		}{{mp, MsgPack}, {js, JSON}} {
			out, err := transcodeBoth(t, c.src, c.from, math.MaxInt)
			if err != nil {
				t.Fatalf("%q: %v", c.src, err)
			}
			if c.from == MsgPack && !sameMPJSON(t, c.src, out) || c.from == JSON && !sameMPJSON(t, out, c.src) {
				t.Fatalf("%q converted to %q", c.src, out)
			}
		}
	}
}

// randomValue builds a value of the kinds both encodings share, with
// string keys (Go maps: order is the encoders' business). Its strings may
// hold invalid UTF-8 until fixStrings.
func randomValue(rng *rand.Rand, depth int) any {
	k := rng.IntN(10)
	if depth == 0 {
		k = rng.IntN(7)
	}
	switch k {
	case 0:
		return nil
	case 1:
		return rng.IntN(2) == 0
	case 2:
		return rng.Int64() >> rng.IntN(64)
	case 3:
		return -rng.Int64() >> rng.IntN(64)
	case 4:
		return rng.Uint64() >> rng.IntN(64)
	case 5:
		return []float64{rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-20)), 0.5, 1e21, 1e-7, math.MaxFloat64}[rng.IntN(5)]
	case 6:
		return string(randomText(rng, rng.IntN(40)))
	case 7, 8:
		a := make([]any, rng.IntN(12))
		for i := range a {
			a[i] = randomValue(rng, depth-1)
		}
		return a
	}
	m := map[string]any{}
	for range rng.IntN(12) {
		m[strconv.Itoa(rng.IntN(1000))+"\"\n"] = randomValue(rng, depth-1)
	}
	return m
}

func jsonVal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// fixStrings makes strings valid UTF-8 (randomText mixes in bad bytes),
// which both encodings can carry.
func fixStrings(v any) any {
	switch x := v.(type) {
	case string:
		return strings.ToValidUTF8(x, "?")
	case []any:
		for i := range x {
			x[i] = fixStrings(x[i])
		}
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[strings.ToValidUTF8(k, "?")] = fixStrings(e)
		}
		return m
	}
	return v
}

// sameMPJSON decodes mp with vmihailenco/msgpack and js with encoding/json
// and compares: numbers by value (integers exactly), bin as base64.
func sameMPJSON(t testing.TB, mp, js []byte) bool {
	t.Helper()
	var mv any
	if err := msgpack.Unmarshal(mp, &mv); err != nil {
		t.Fatalf("msgpack %x: %v", mp, err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var jv any
	if err := dec.Decode(&jv); err != nil {
		t.Fatalf("json %s: %v", js, err)
	}
	return sameValue(mv, jv)
}

func sameValue(mv, jv any) bool {
	switch m := mv.(type) {
	case nil, bool, string:
		return mv == jv
	case []byte:
		return base64.StdEncoding.EncodeToString(m) == jv
	case []any:
		j, ok := jv.([]any)
		if !ok || len(j) != len(m) {
			return false
		}
		for i := range m {
			if !sameValue(m[i], j[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		j, ok := jv.(map[string]any)
		if !ok || len(j) != len(m) {
			return false
		}
		for k, e := range m {
			if je, ok := j[k]; !ok || !sameValue(e, je) {
				return false
			}
		}
		return true
	}
	n, ok := jv.(json.Number)
	if !ok {
		return false
	}
	switch m := mv.(type) {
	case float32:
		f, err := strconv.ParseFloat(string(n), 32)
		return err == nil && float32(f) == m
	case float64:
		f, err := strconv.ParseFloat(string(n), 64)
		return err == nil && f == m
	}
	switch rv := reflect.ValueOf(mv); {
	case rv.CanInt():
		i, err := strconv.ParseInt(string(n), 10, 64)
		return err == nil && i == rv.Int()
	case rv.CanUint():
		u, err := strconv.ParseUint(string(n), 10, 64)
		return err == nil && u == rv.Uint()
	}
	return false
}

// Conversion of a typical value allocates nothing, in either direction
// and either mode, once dst has room.
func TestTranscodeZeroAllocs(t *testing.T) {
	var op Op
	if e := DecodeOp(benchMPPub, MsgPack, &op); e != nil {
		t.Fatal(e)
	}
	mp := op.Data
	js, err := AppendTranscoded(nil, mp, MsgPack, math.MaxInt)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []transcodeCase{{"typical", mp, js}, transcodeCases()[0], transcodeCases()[2]} {
		dst := make([]byte, 0, 4*len(c.js)+len(c.mp))
		for _, d := range []struct {
			name string
			src  []byte
			from Enc
		}{{"msgpack to json", c.mp, MsgPack}, {"json to msgpack", c.js, JSON}} {
			zeroAllocs(t, c.name+" "+d.name, "streaming, fixed stack", func() {
				if _, err := AppendTranscoded(dst[:0], d.src, d.from, math.MaxInt); err != nil {
					t.Fatal(err)
				}
			})
			zeroAllocs(t, c.name+" "+d.name+" (count)", "", func() {
				if _, err := TranscodedLen(d.src, d.from, math.MaxInt); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// ConvError carries the err reply: 400 with the reason, or 413.
func TestConvErrorCodes(t *testing.T) {
	for _, e := range []*ConvError{errConvMalformed, errConvDepth, errConvExt, errConvKey, errConvFloat, errConvUTF8, errConvRange} {
		if e.Code != CodeBadRequest || e.Error() != e.Msg || e.Msg == "" {
			t.Errorf("%+v", e)
		}
	}
	var ce *ConvError
	if !errors.As(error(errConvTooLarge), &ce) || ce.Code != 413 {
		t.Errorf("%+v", errConvTooLarge)
	}
}
