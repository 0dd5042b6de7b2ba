package frame

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/vmihailenco/msgpack/v5"
)

// readFrame parses one server frame with gobwas/ws and checks it is the
// whole of b, unmasked and final.
func readFrame(t *testing.T, b []byte) (ws.OpCode, []byte) {
	t.Helper()
	r := bytes.NewReader(b)
	f, err := ws.ReadFrame(r)
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	if r.Len() != 0 || f.Header.Masked || !f.Header.Fin || f.Header.Rsv != 0 {
		t.Fatalf("frame: %d trailing bytes, header %+v", r.Len(), f.Header)
	}
	return f.Header.OpCode, f.Payload
}

func wantJSON(t *testing.T, frame []byte, want string) {
	t.Helper()
	op, p := readFrame(t, frame)
	if op != ws.OpText || string(p) != want {
		t.Fatalf("got op %v %s\nwant %s", op, p, want)
	}
}

// wantMP compares the decoded msgpack payload with want (a Go value
// decoded the same way).
func wantMP(t *testing.T, frame []byte, want any) {
	t.Helper()
	op, p := readFrame(t, frame)
	var got any
	if err := msgpack.Unmarshal(p, &got); err != nil || op != ws.OpBinary {
		t.Fatalf("op %v payload %x: %v", op, p, err)
	}
	if mpSkip(p, 0) != len(p) {
		t.Fatalf("payload %x is not exactly one value", p)
	}
	var w any
	if err := msgpack.Unmarshal(mpVal(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, w) {
		t.Fatalf("got %#v\nwant %#v", got, w)
	}
}

func TestAppendAck(t *testing.T) {
	wantJSON(t, AppendAck(nil, JSON, []byte(`"a1"`)), `{"op":"ack","id":"a1"}`)
	wantJSON(t, AppendAck(nil, JSON, nil), `{"op":"ack"}`)
	wantMP(t, AppendAck(nil, MsgPack, mpVal(7)), map[string]any{"op": "ack", "id": 7})
	wantMP(t, AppendAck(nil, MsgPack, nil), map[string]any{"op": "ack"})
	// dst prefix is kept
	if b := AppendAck([]byte("pre"), JSON, nil); !bytes.HasPrefix(b, []byte("pre")) {
		t.Fatal("prefix lost")
	}
}

func TestAppendErr(t *testing.T) {
	wantJSON(t, AppendErr(nil, JSON, []byte("3"), 404, `unknown "op"`), `{"op":"err","id":3,"code":404,"msg":"unknown \"op\""}`)
	wantJSON(t, AppendErr(nil, JSON, nil, -1, "a\nb"), `{"op":"err","code":-1,"msg":"a\u000ab"}`)
	wantMP(t, AppendErr(nil, MsgPack, mpVal("x"), 422, "bad"), map[string]any{"op": "err", "id": "x", "code": 422, "msg": "bad"})
	wantMP(t, AppendErr(nil, MsgPack, nil, 400, strings.Repeat("m", 300)), map[string]any{"op": "err", "code": 400, "msg": strings.Repeat("m", 300)})
}

func TestAppendMsgSameEncoding(t *testing.T) {
	b, err := AppendMsg(nil, JSON, []byte("news"), 42, []byte(`{"a":[1,"x"]}`))
	if err != nil {
		t.Fatal(err)
	}
	wantJSON(t, b, `{"op":"msg","ch":"news","off":42,"data":{"a":[1,"x"]}}`)
	for _, data := range []any{[]byte{}, "", []byte{1, 2}, "s", 1.5, nil, map[string]any{"k": []any{1}}} {
		raw := mpVal(data)
		b, err := AppendMsg(nil, MsgPack, []byte("c"), 1<<40, raw)
		if err != nil {
			t.Fatal(err)
		}
		_, p := readFrame(t, b)
		if !bytes.HasSuffix(p, raw) { // spliced verbatim: bin stays bin, str stays str
			t.Fatalf("%#v: payload %x does not end with %x", data, p, raw)
		}
		wantMP(t, b, map[string]any{"op": "msg", "ch": "c", "off": uint64(1 << 40), "data": data})
	}
	if _, err := AppendMsg(nil, JSON, []byte("c"), 0, nil); err == nil {
		t.Fatal("empty data accepted")
	}
}

// Header sizes at every boundary: payloads of 125/126 and 65535/65536
// bytes, in both encodings.
func TestAppendMsgHeaderBoundaries(t *testing.T) {
	for _, enc := range []Enc{JSON, MsgPack} {
		empty := []byte(`""`)
		if enc == MsgPack {
			empty = mpVal("")
		}
		base, _ := AppendMsg(nil, enc, []byte("c"), 5, empty)
		_, p := readFrame(t, base)
		overhead := len(p) - len(empty) // payload bytes besides the data
		for _, target := range []int{124, 125, 126, 127, 65534, 65535, 65536, 65537, 70000} {
			// The longest string whose encoding leaves the payload at target.
			n := target - overhead
			for encLen(enc, n) > target-overhead {
				n--
			}
			data := mpVal(strings.Repeat("z", n))
			if enc == JSON {
				data, _ = json.Marshal(strings.Repeat("z", n))
			}
			b, err := AppendMsg([]byte("xy"), enc, []byte("c"), 5, data)
			if err != nil {
				t.Fatal(err)
			}
			if string(b[:2]) != "xy" {
				t.Fatal("prefix lost")
			}
			_, p := readFrame(t, b[2:])
			if hs := len(b) - 2 - len(p); hs != headerSize(len(p)) {
				t.Fatalf("payload %d: header %d bytes", len(p), hs)
			}
			if len(p) != target && encLen(enc, n) == target-overhead {
				t.Fatalf("payload %d, want %d", len(p), target)
			}
		}
	}
}

// encLen is the encoded length of an n-byte plain string.
func encLen(enc Enc, n int) int {
	if enc == JSON {
		return n + 2
	}
	return mpStrLen(n)
}

// Conversion through the two-phase path the server uses
// (AppendMsgPartFrom, then FinishMsg).
func TestAppendMsgConversion(t *testing.T) {
	f := func(name string, data []byte, from, to Enc, want string) {
		t.Helper()
		part, err := AppendMsgPartFrom(make([]byte, MsgHeadMax), to, data, from, math.MaxInt)
		if want == "error" {
			if err == nil {
				t.Errorf("%s: converted, want error", name)
			}
			return
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		b := FinishMsg(part, MsgHeadMax, to, []byte("c"), 1)
		_, p := readFrame(t, b)
		var got string
		if to == JSON {
			got = string(p)
		} else {
			var v map[string]any
			if err := msgpack.Unmarshal(p, &v); err != nil {
				t.Fatal(err)
			}
			// Show the data's exact msgpack bytes: int vs float matters.
			i := bytes.LastIndex(p, []byte("\xa4data"))
			got = fmt.Sprintf("%x", p[i+5:])
		}
		if got != want {
			t.Errorf("%s: got %s\nwant %s", name, got, want)
		}
	}
	jm := func(data string) string { return `{"op":"msg","ch":"c","off":1,"data":` + data + `}` }
	f("bin to base64", mpVal([]byte{0, 1, 2, 0xff}), MsgPack, JSON, jm(`"AAEC/w=="`))
	f("empty bin", mpVal([]byte{}), MsgPack, JSON, jm(`""`))
	f("map keys keep their order", mpMap("b", 1, "a", "<&>"), MsgPack, JSON, jm(`{"b":1,"a":"<&>"}`))
	f("nested", mpVal([]any{nil, true, -5, 1.5, "s", map[string]any{}}), MsgPack, JSON, jm(`[null,true,-5,1.5,"s",{}]`))
	f("uint64", mpVal(uint64(1<<63)), MsgPack, JSON, jm(`9223372036854775808`))
	f("ext", []byte{0xd4, 1, 2}, MsgPack, JSON, "error")
	f("ext nested", []byte{0x92, 0x01, 0xd4, 1, 2}, MsgPack, JSON, "error")
	f("int key", mpMap(1, "x"), MsgPack, JSON, "error")
	f("NaN", []byte{0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1}, MsgPack, JSON, "error")

	f("int", []byte(`5`), JSON, MsgPack, "05")
	f("negative int", []byte(`-200`), JSON, MsgPack, "d1ff38")
	f("big int", []byte(`18446744073709551615`), JSON, MsgPack, "cfffffffffffffffff")
	f("beyond uint64 is float", []byte(`18446744073709551616`), JSON, MsgPack, "cb43f0000000000000")
	f("float", []byte(`1.5`), JSON, MsgPack, "cb3ff8000000000000")
	f("exponent is float", []byte(`1e2`), JSON, MsgPack, "cb4059000000000000")
	f("string", []byte(`"hi"`), JSON, MsgPack, "a26869")
	f("empty string", []byte(`""`), JSON, MsgPack, "a0")
	f("object keeps its key order", []byte(`{"b":[true,null],"a":1}`), JSON, MsgPack, "82a16292c3c0a16101")
	f("out of range", []byte(`1e400`), JSON, MsgPack, "error")
	f("malformed", []byte(`{"a":`), JSON, MsgPack, "error")
	f("trailing", []byte(`1 2`), JSON, MsgPack, "error")
}

// JSON numbers beyond float64 and nesting beyond 256 are refused up front
// by TranscodedLen, exactly when the conversion would fail (formerly
// TestMsgPackCompatible, a separate validator).
func TestTranscodedLenJSON(t *testing.T) {
	for _, s := range []string{`1`, `1e308`, `-1.5e-300`, `{"a":[1,"1e999",2e3]}`, `"x"`, strings.Repeat("[", 256) + strings.Repeat("]", 256)} {
		n, err := TranscodedLen([]byte(s), JSON, math.MaxInt)
		if err != nil {
			t.Errorf("%.40s refused: %v", s, err)
		}
		if out, err := AppendTranscoded(nil, []byte(s), JSON, math.MaxInt); err != nil || len(out) != n {
			t.Errorf("%.40s: conversion %d bytes, %v; counted %d", s, len(out), err, n)
		}
	}
	for _, s := range []string{`1e309`, `[1,-1e400]`, `{"a":{"b":1e999}}`, strings.Repeat("[", 258) + strings.Repeat("]", 258)} {
		if _, err := TranscodedLen([]byte(s), JSON, math.MaxInt); err == nil {
			t.Errorf("%.40s accepted", s)
		}
		if _, err := AppendTranscoded(nil, []byte(s), JSON, math.MaxInt); err == nil {
			t.Errorf("%.40s: converted", s)
		}
	}
}
