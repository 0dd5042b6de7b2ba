package frame

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// longestChannel is a ValidChannel name of MaxChannel bytes using every
// allowed punctuation byte.
var longestChannel = []byte(strings.Repeat("_.:@/=-a", MaxChannel/8))

// MsgHeadMax is exact: the longest valid channel, the largest offset and a
// payload needing the 10-byte header take every byte of it in the
// encoding with the longer prefix, and no case takes more.
func TestMsgHeadMax(t *testing.T) {
	if !ValidChannel(longestChannel) || len(longestChannel) != MaxChannel {
		t.Fatal("test channel is not a longest valid one")
	}
	data := bytes.Repeat([]byte("1"), 70000) // a number: one value in both encodings
	most := 0
	for _, enc := range []Enc{JSON, MsgPack} {
		for _, off := range []uint64{0, 127, 1 << 32, math.MaxUint64} {
			for _, ch := range [][]byte{[]byte("c"), longestChannel} {
				for _, d := range [][]byte{data[:1], data[:200], data} {
					d := d
					if enc == MsgPack {
						d = mpVal(string(d))
					}
					part := AppendMsgPart(make([]byte, MsgHeadMax), enc, d)
					fr := FinishMsg(part, MsgHeadMax, enc, ch, off)
					head := len(fr) - (len(part) - MsgHeadMax)
					most = max(most, head)
					want, err := AppendMsg(nil, enc, ch, off, d)
					if err != nil || !bytes.Equal(fr, want) {
						t.Fatalf("enc %d off %d: FinishMsg and AppendMsg differ (%v)", enc, off, err)
					}
				}
			}
		}
	}
	if most != MsgHeadMax {
		t.Fatalf("the longest head is %d bytes, MsgHeadMax %d", most, MsgHeadMax)
	}
	if MaxMsgOverhead+MaxChannel < MsgHeadMax+1 {
		t.Fatalf("MaxMsgOverhead %d does not cover the head and '}'", MaxMsgOverhead)
	}
}

// FinishMsg writes only into the room and returns the tail of buf: the
// data part is neither copied nor moved.
func TestFinishMsg(t *testing.T) {
	for _, enc := range []Enc{JSON, MsgPack} {
		data := []byte(`{"x":[1,2]}`)
		if enc == MsgPack {
			data = mpMap("x", []any{1, 2})
		}
		room := MsgHeadMax + 7 // more room than needed is fine
		buf := AppendMsgPart(bytes.Repeat([]byte{0xee}, room), enc, data)
		part := bytes.Clone(buf[room:])
		fr := FinishMsg(buf, room, enc, []byte("news"), 42)
		if &fr[len(fr)-1] != &buf[len(buf)-1] || !bytes.HasSuffix(fr, part) {
			t.Fatal("frame is not the tail of buf")
		}
		if k := len(buf) - len(fr); !bytes.Equal(buf[:k], bytes.Repeat([]byte{0xee}, k)) {
			t.Fatal("FinishMsg wrote before the frame")
		}
		if enc == JSON {
			wantJSON(t, fr, `{"op":"msg","ch":"news","off":42,"data":{"x":[1,2]}}`)
		} else {
			wantMP(t, fr, map[string]any{"op": "msg", "ch": "news", "off": 42, "data": map[string]any{"x": []any{1, 2}}})
		}
	}
	// Too little room is a programming error.
	defer func() {
		if recover() == nil {
			t.Fatal("no panic with room for less than the head")
		}
	}()
	buf := AppendMsgPart(make([]byte, 20), JSON, []byte("1"))
	FinishMsg(buf, 20, JSON, longestChannel, 1)
}

func TestAppendMsgPartFrom(t *testing.T) {
	part, err := AppendMsgPartFrom([]byte("h"), JSON, mpMap("b", 1, "a", []byte{1}), MsgPack, math.MaxInt)
	if err != nil || string(part) != `h{"b":1,"a":"AQ=="}}` {
		t.Fatalf("%q %v", part, err)
	}
	part, err = AppendMsgPartFrom([]byte("h"), MsgPack, []byte(`[1]`), JSON, math.MaxInt)
	if err != nil || string(part) != "h\x91\x01" {
		t.Fatalf("%q %v", part, err)
	}
	if part, err = AppendMsgPartFrom([]byte("h"), JSON, mpVal("\xff"), MsgPack, math.MaxInt); err != errConvUTF8 || string(part) != "h" {
		t.Fatalf("%q %v", part, err)
	}
	if _, err = AppendMsgPartFrom(nil, JSON, mpVal(strings.Repeat("x", 100)), MsgPack, 101); err != errConvTooLarge {
		t.Fatalf("limit: %v", err)
	}
	// Same encoding: verbatim, the limit does not apply.
	if part, err = AppendMsgPartFrom(nil, MsgPack, mpVal("\xff"), MsgPack, 0); err != nil || !bytes.Equal(part, mpVal("\xff")) {
		t.Fatalf("%q %v", part, err)
	}
}
