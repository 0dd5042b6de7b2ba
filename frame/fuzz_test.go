package frame

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"

	"github.com/gobwas/ws"
	"github.com/vmihailenco/msgpack/v5"
)

// rngFor derives a deterministic generator from the input, so a failing
// input reproduces its cuts.
func rngFor(data []byte) *rand.Rand {
	h := fnv.New64a()
	h.Write(data)
	return rand.New(rand.NewPCG(h.Sum64(), uint64(len(data))))
}

func FuzzDecoder(f *testing.F) {
	seeds := [][]byte{
		frm(ws.OpText, true, []byte("hello")),
		cat(frm(ws.OpText, false, []byte("he\xe2")), frm(ws.OpPing, true, []byte("p")), frm(ws.OpContinuation, true, []byte("\x82\xacllo"))),
		cat(frm(ws.OpBinary, true, bytes.Repeat([]byte{7}, 300)), frm(ws.OpPong, true, nil), frm(ws.OpClose, true, closeBody(1000, "bye"))),
		frm(ws.OpClose, true, closeBody(1005, "")),
		frm(ws.OpText, true, []byte("x"), unmasked),
		frm(ws.OpText, true, []byte("\xff")),
		frm(ws.OpBinary, true, []byte("x"), rsv(4)),
		{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4},
		{0x82, 0xfe, 0xff, 0xff, 1, 2, 3, 4, 5},
		{},
		// Issue 14 item 6: registered close codes 1012-1014.
		frm(ws.OpClose, true, closeBody(1012, "restart")),
		frm(ws.OpClose, true, closeBody(1013, "")),
		frm(ws.OpClose, true, closeBody(1014, "gw")),
		// Issue 14 item 3: a FIN frame announcing more than arrives.
		frm(ws.OpBinary, true, bytes.Repeat([]byte{9}, 600))[:500],
		// Issue 9: a message at the bound split over fragments and pings.
		cat(frm(ws.OpBinary, false, bytes.Repeat([]byte{3}, 700)), frm(ws.OpPing, true, bytes.Repeat([]byte{4}, 125)),
			frm(ws.OpContinuation, true, bytes.Repeat([]byte{5}, 599))),
	}
	for i, s := range seeds {
		f.Add(s, uint16(i*100))
	}
	f.Fuzz(func(t *testing.T, data []byte, maxSel uint16) {
		max := int(maxSel) + 1
		whole := feedCuts(data, max, nil)
		if whole.buffered != 0 {
			t.Fatalf("Buffered() = %d after Release", whole.buffered)
		}
		if whole.peak > max+bufSlack {
			t.Fatalf("held %d bytes with max %d", whole.peak, max)
		}
		rng := rngFor(data)
		for range 4 {
			cuts := randomCuts(rng, len(data), 1+rng.IntN(8))
			got := feedCuts(data, max, cuts)
			if !got.equal(whole) {
				t.Fatalf("cuts %v:\n got %v\nwhole %v", cuts, got, whole)
			}
			if got.buffered != 0 {
				t.Fatalf("Buffered() = %d after Release", got.buffered)
			}
			if got.peak > max+bufSlack {
				t.Fatalf("cuts %v: held %d bytes with max %d", cuts, got.peak, max)
			}
		}
		if len(data) <= 256 {
			if got := feedCuts(data, max, byteCuts(len(data))); !got.equal(whole) {
				t.Fatalf("byte by byte:\n got %v\nwhole %v", got, whole)
			}
		}
	})
}

func FuzzParseUpgrade(f *testing.F) {
	f.Add(goodRequest(), "/ws")
	f.Add(append(goodRequest(), 0x81, 0x80), "/ws")
	f.Add(replace("GET", "POST /ws HTTP/1.1"), "/ws")
	f.Add(replace("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8"), "/ws")
	f.Add(without("Host"), "/")
	f.Add([]byte("GET / HTTP/1.0\r\n\r\n"), "/")
	// Issue 14 item 9: version overflow, whitespace before the colon.
	f.Add(replace("GET", "GET /ws HTTP/1.18446744073709551617"), "/ws")
	f.Add(replace("Host", "Host : example.com"), "/ws")
	f.Add(replace("GET", "GET /ws?a=b&token=x HTTP/1.1"), "/ws")
	f.Add(goodRequest("Origin: https://a", "Authorization: Bearer x", "Sec-WebSocket-Protocol: p",
		"Sec-WebSocket-Extensions: permessage-deflate", "X-Forwarded-For: 1.2.3.4", "X-Forwarded-For: 5.6.7.8"), "/ws")
	f.Add(goodRequest("Origin: a", "Origin: b"), "/ws")
	f.Add(goodRequest(strings.Repeat("X-Forwarded-For: 1.1.1.1\r\n", MaxHeaderValues)+"X-Forwarded-For: 2.2.2.2"), "/ws")
	f.Fuzz(func(t *testing.T, data []byte, path string) {
		var u Upgrade
		n, rej := ParseUpgrade(data, path, &u)
		switch {
		case rej != nil:
			if n != 0 {
				t.Fatalf("reject with n=%d", n)
			}
		case n > 0:
			if n > len(data) || n > MaxRequest || !bytes.HasSuffix(data[:n], []byte("\r\n\r\n")) || !validKey(u.Key[:]) {
				t.Fatalf("accept with n=%d key=%q", n, u.Key)
			}
			if !bytes.Contains(data[:n], u.Key[:]) {
				t.Fatal("key not from the request")
			}
			// Every span lies inside the request head.
			spans := append([][]byte{u.Origin, u.Authorization, u.Query, u.Protocol}, u.Extensions.All()...)
			for _, s := range append(spans, u.ForwardedFor.All()...) {
				if s != nil && !within(s, data[:n]) {
					t.Fatalf("span %q not inside the request head", s)
				}
			}
		default:
			if len(data) >= MaxRequest {
				t.Fatalf("wait with len=%d", len(data))
			}
		}
		// A verdict, once reached on a prefix, never changes.
		rng := rngFor(data)
		for range 4 {
			k := rng.IntN(len(data) + 1)
			var pu Upgrade
			pn, prej := ParseUpgrade(data[:k], path, &pu)
			if prej == nil && pn == 0 {
				continue
			}
			if pn != n || (prej == nil) != (rej == nil) || (rej != nil && *prej != *rej) {
				t.Fatalf("prefix %d: n=%d rej=%v; whole: n=%d rej=%v", k, pn, prej, n, rej)
			}
		}
	})
}

// within reports whether s is a subslice of b (same memory).
func within(s, b []byte) bool {
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	return p >= start && p+uintptr(len(s)) <= start+uintptr(len(b))
}

func FuzzDecodeOp(f *testing.F) {
	for _, s := range []string{
		`{"op":"sub","ch":"news"}`, `{"op":"pub","ch":"x","data":{"a":[1,2.5,"s",null,true]},"id":"q"}`,
		`{"op":"unsub","ch":"a\u0062","id":1}`, `{"op":"pub","ch":"x","data":"\ud83d\ude00"}`, `[]`, `{"op":1}`,
		`{"op":"sub","ch":"a","since":{"off":17,"epoch":"k3f9"},"id":2}`, `{"op":"sub","ch":"a","since":{"off":1e3,"epoch":"\u006b"}}`,
		`{"op":"ping","id":[1]}`, `{"op":"auth","token":"eyJhbGciOiJIUzI1NiJ9.e30.x","id":1}`,
	} {
		f.Add([]byte(s), true)
	}
	for _, b := range [][]byte{
		mpMap("op", "sub", "ch", "news"), mpMap("op", "pub", "ch", "x", "id", 5, "data", rawMP(mpVal(map[string]any{"a": []any{1, "b", []byte{1}}}))),
		mpMap("op", "pub", "ch", "x", "data", rawMP{0xd4, 1, 1}), mpMap(1, 2, "op", "unsub", "ch", "y"), {0xc1}, {0xdf, 0xff, 0xff, 0xff, 0xff},
		// Issue 14 item 9: an ext (timestamp) id.
		mpMap("op", "sub", "ch", "x", "id", rawMP{0xd6, 0xff, 0, 0, 0, 1}),
		mpMap("op", "sub", "ch", "x", "since", rawMP(mpVal(map[string]any{"off": 9, "epoch": "z"}))),
		mpMap("op", "auth", "token", "t.t.t"), mpMap("op", "ping", "id", 1),
	} {
		f.Add(b, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, isJSON bool) {
		// The skipper agrees with the library wherever it accepts.
		if n := mpSkip(data, 0); n >= 0 {
			dec := msgpack.NewDecoder(bytes.NewReader(data[:n]))
			if err := dec.Skip(); err != nil {
				t.Fatalf("mpSkip accepted %d bytes the library rejects: %v", n, err)
			}
		}
		enc := MsgPack
		if isJSON {
			enc = JSON
		}
		var op Op
		if e := DecodeOp(data, enc, &op); e != nil {
			if e.Code != CodeBadRequest && e.Code != CodeUnknownOp && e.Code != CodeBadChannel {
				t.Fatalf("error code %d", e.Code)
			}
			return
		}
		withCh := op.Kind == OpSub || op.Kind == OpUnsub || op.Kind == OpPub
		if (withCh && !ValidChannel(op.Ch)) || op.Kind == OpInvalid || (op.Kind == OpPub && !op.HasData) ||
			(op.Since.Set && op.Kind != OpSub) || (op.Kind == OpAuth && op.Token == nil) {
			t.Fatalf("accepted %+v", op)
		}
		oneValue := func(v []byte) bool {
			if enc == JSON {
				return json.Valid(v)
			}
			return mpSkip(v, 0) == len(v)
		}
		if enc == JSON && !json.Valid(data) {
			t.Fatalf("accepted malformed JSON %q", data)
		}
		if (op.ID != nil && !oneValue(op.ID)) || (op.HasData && !oneValue(op.Data)) {
			t.Fatalf("id %q / data %q not one value", op.ID, op.Data)
		}
		if enc == MsgPack && op.ID != nil {
			if c := op.ID[0]; c >= 0xc7 && c <= 0xc9 || c >= 0xd4 && c <= 0xd8 {
				t.Fatalf("ext id %x accepted", op.ID)
			}
		}
		AppendAck(nil, enc, op.ID)
		AppendErr(nil, enc, op.ID, 400, "x")
		if !op.HasData {
			return
		}
		for _, to := range []Enc{JSON, MsgPack} {
			// The server's path: validate and size, build the part
			// (converted if need be), then the head.
			size, lerr := TranscodedLen(op.Data, enc, math.MaxInt)
			part, err := AppendMsgPartFrom(make([]byte, MsgHeadMax), to, op.Data, enc, math.MaxInt)
			if to == enc {
				size, lerr = len(op.Data), nil
			}
			if err != lerr {
				t.Fatalf("to %d: conversion %v, TranscodedLen %v", to, err, lerr)
			}
			if err != nil {
				continue
			}
			if suffix := len(part) - MsgHeadMax - size; suffix != 0 && !(to == JSON && suffix == 1) {
				t.Fatalf("to %d: part %d bytes for %d of data", to, len(part)-MsgHeadMax, size)
			}
			b := FinishMsg(part, MsgHeadMax, to, op.Ch, 3)
			same, err := AppendMsg(nil, to, op.Ch, 3, part[MsgHeadMax:MsgHeadMax+size])
			if err != nil || !bytes.Equal(same, b) {
				t.Fatalf("AppendMsg %q (%v) and FinishMsg %q differ", same, err, b)
			}
			fr, err := ws.ReadFrame(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if to == JSON && !json.Valid(fr.Payload) || to == MsgPack && mpSkip(fr.Payload, 0) != len(fr.Payload) {
				t.Fatalf("output payload %q malformed", fr.Payload)
			}
		}
	})
}

// FuzzTranscode converts arbitrary bytes both ways. Whatever converts
// means what the libraries mean, converts back, and reaches a fixed point
// (msgpack -> json -> msgpack is the canonical form and stays it); the
// counting walk agrees with the emitting one; a limit is never passed,
// not even by the buffer's growth.
func FuzzTranscode(f *testing.F) {
	mp1, js1 := benchPayload(1 << 10)
	mpE, jsE := emptyMaps(1000)
	for _, s := range []struct {
		data []byte
		json bool
	}{
		{mp1, false}, {js1, true}, {mpE, false}, {jsE, true},
		// Issue 14 item 2: a str of 0xff bytes, and of control bytes (6x).
		{mpVal(string(bytes.Repeat([]byte{0xff}, 1000))), false},
		{mpVal(string(bytes.Repeat([]byte{0x01}, 1000))), false},
		// Issue 14 item 9: two invalid-UTF-8 keys that became duplicates.
		{mpMap("\xff", 1, "\xfe", 2), false},
		{[]byte{0xd6, 0xff, 0, 0, 0, 1}, false}, // a timestamp
		{[]byte{0x92, 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1, 0xca, 0x80, 0, 0, 0}, false},
		{mpVal([]any{-1, 1 << 40, uint64(1 << 63), 1.5, float32(0.1), []byte("bin"), map[string]any{"k": nil}}), false},
		{nest(64, []byte{0x81, 0xa1, 'k'}, 0xc0), false},
		{[]byte(`{"b":[1,-0,1e400],"a":"\ud83d"}`), true},
		{[]byte(`[1e21,1e-7,18446744073709551616,-9223372036854775808,0.1,"\u0000\"\\"]`), true},
		{[]byte(strings.Repeat("[", 256) + strings.Repeat("]", 256)), true},
		{[]byte("[" + strings.Repeat("0,", 20) + "0]"), true},
	} {
		f.Add(s.data, s.json, uint16(len(s.data)))
	}
	f.Fuzz(func(t *testing.T, data []byte, isJSON bool, limitSel uint16) {
		from, to := MsgPack, JSON
		if isJSON {
			from, to = JSON, MsgPack
		}
		out, err := transcodeBoth(t, data, from, math.MaxInt)

		// Limited: the same outcome within the limit, 413 beyond it, and
		// the buffer never grows past it.
		limit := int(limitSel)
		lim, lerr := AppendTranscoded(make([]byte, 0, limit), data, from, limit)
		switch {
		case cap(lim) != limit:
			t.Fatalf("limit %d: buffer grew to %d", limit, cap(lim))
		case err == nil && len(out) <= limit && (lerr != nil || !bytes.Equal(lim, out)):
			t.Fatalf("limit %d, size %d: %v", limit, len(out), lerr)
		case err == nil && len(out) > limit && lerr != errConvTooLarge:
			t.Fatalf("limit %d, size %d: %v, want too large", limit, len(out), lerr)
		case err != nil && lerr != err && lerr != errConvTooLarge:
			t.Fatalf("limit %d: %v, unbounded %v", limit, lerr, err)
		}

		if err != nil {
			// "Malformed" agrees with the validators the op decoder uses.
			if err == errConvMalformed && (isJSON && json.Valid(data) || !isJSON && mpSkip(data, 0) == len(data)) {
				t.Fatalf("well-formed input called malformed: %q", data)
			}
			return
		}
		if isJSON && !json.Valid(data) || !isJSON && mpSkip(data, 0) != len(data) {
			t.Fatalf("malformed input converted: %q", data)
		}
		if to == JSON && !json.Valid(out) || to == MsgPack && mpSkip(out, 0) != len(out) {
			t.Fatalf("output malformed: %q", out)
		}
		if isJSON && !sameMPJSON(t, out, data) || !isJSON && !sameMPJSON(t, data, out) {
			t.Fatalf("%q converted to %q: not the same value", data, out)
		}
		back, err := transcodeBoth(t, out, to, math.MaxInt)
		if err == errConvDepth && isJSON {
			return // JSON may nest deeper than MessagePack converts back
		}
		if err != nil {
			t.Fatalf("output %q does not convert back: %v", out, err)
		}
		if isJSON {
			// back is JSON as MessagePack data converts to: it is at its
			// fixed point (1.0 came out as 1 and stays 1).
			mp2, err := transcodeBoth(t, back, JSON, math.MaxInt)
			if err != nil {
				t.Fatalf("%s does not convert: %v", back, err)
			}
			if js2, err := transcodeBoth(t, mp2, MsgPack, math.MaxInt); err != nil || !bytes.Equal(js2, back) {
				t.Fatalf("json %s -> %x -> %s (%v)", back, mp2, js2, err)
			}
			return
		}
		// msgpack -> json -> msgpack is the canonical form: converting it
		// again changes neither it nor its JSON.
		js2, err := transcodeBoth(t, back, MsgPack, math.MaxInt)
		if err != nil || !bytes.Equal(js2, out) {
			t.Fatalf("canonical %x -> %s, want %s (%v)", back, js2, out, err)
		}
		canon, err := transcodeBoth(t, js2, JSON, math.MaxInt)
		if err != nil || !bytes.Equal(canon, back) {
			t.Fatalf("canonical form not stable: %x -> %x (%v)", back, canon, err)
		}
	})
}
