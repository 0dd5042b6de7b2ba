package frame

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestDecodeSincePingAuth(t *testing.T) {
	mp := func(v any) []byte {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	type want struct {
		kind  OpKind
		code  int
		since Since
		token string
	}
	cases := []struct {
		in  []byte
		enc Enc
		w   want
	}{
		{[]byte(`{"op":"sub","ch":"a","since":{"off":17,"epoch":"k3f9"}}`), JSON, want{kind: OpSub, since: Since{17, []byte("k3f9"), true}}},
		{[]byte(`{"op":"sub","ch":"a","since":{"epoch":"x","off":0}}`), JSON, want{kind: OpSub, since: Since{0, []byte("x"), true}}},
		{[]byte(`{"op":"sub","ch":"a","since":{"off":18446744073709551615,"epoch":"x"}}`), JSON, want{kind: OpSub, since: Since{1<<64 - 1, []byte("x"), true}}},
		{[]byte(`{"op":"sub","ch":"a","since":{"off":-1,"epoch":"x"}}`), JSON, want{code: 400}},
		{[]byte(`{"op":"sub","ch":"a","since":{"off":1.5,"epoch":"x"}}`), JSON, want{code: 400}},
		{[]byte(`{"op":"sub","ch":"a","since":{"off":"1","epoch":"x"}}`), JSON, want{code: 400}},
		{[]byte(`{"op":"sub","ch":"a","since":{"off":1}}`), JSON, want{code: 400}},
		{[]byte(`{"op":"sub","ch":"a","since":{"off":1,"epoch":"x","more":1}}`), JSON, want{code: 400}},
		{[]byte(`{"op":"sub","ch":"a","since":7}`), JSON, want{code: 400}},
		{[]byte(`{"op":"pub","ch":"a","data":1,"since":{"off":1,"epoch":"x"}}`), JSON, want{code: 400}},
		{[]byte(`{"op":"ping","id":3}`), JSON, want{kind: OpPing}},
		{[]byte(`{"op":"ping"}`), JSON, want{kind: OpPing}},
		{[]byte(`{"op":"auth","token":"a.b.c"}`), JSON, want{kind: OpAuth, token: "a.b.c"}},
		{[]byte(`{"op":"auth"}`), JSON, want{code: 400}},
		{[]byte(`{"op":"auth","token":5}`), JSON, want{code: 400}},
		{mp(map[string]any{"op": "sub", "ch": "a", "since": map[string]any{"off": uint64(70000), "epoch": "e1"}}), MsgPack, want{kind: OpSub, since: Since{70000, []byte("e1"), true}}},
		{mp(map[string]any{"op": "sub", "ch": "a", "since": map[string]any{"off": int8(5), "epoch": "e1"}}), MsgPack, want{kind: OpSub, since: Since{5, []byte("e1"), true}}},
		{mp(map[string]any{"op": "sub", "ch": "a", "since": map[string]any{"off": int8(-5), "epoch": "e1"}}), MsgPack, want{code: 400}},
		{mp(map[string]any{"op": "sub", "ch": "a", "since": map[string]any{"off": "5", "epoch": "e1"}}), MsgPack, want{code: 400}},
		{mp(map[string]any{"op": "auth", "token": "t"}), MsgPack, want{kind: OpAuth, token: "t"}},
		{mp(map[string]any{"op": "ping"}), MsgPack, want{kind: OpPing}},
	}
	for _, c := range cases {
		var op Op
		e := DecodeOp(c.in, c.enc, &op)
		switch {
		case c.w.code != 0:
			if e == nil || e.Code != c.w.code {
				t.Errorf("%q: err %v, want code %d", c.in, e, c.w.code)
			}
		case e != nil:
			t.Errorf("%q: %v", c.in, e)
		case op.Kind != c.w.kind || op.Since.Off != c.w.since.Off || string(op.Since.Epoch) != string(c.w.since.Epoch) ||
			op.Since.Set != c.w.since.Set || string(op.Token) != c.w.token:
			t.Errorf("%q: %+v, want %+v", c.in, op, c.w)
		}
	}
}

func TestPongOp(t *testing.T) {
	for _, enc := range []Enc{JSON, MsgPack} {
		m := decodeFrameJSONorMP(t, PongOp[enc])
		if m["op"] != "pong" || len(m) != 1 {
			t.Fatalf("prebuilt pong %v", m)
		}
		id := []byte("9")
		if enc == MsgPack {
			id = []byte{9}
		}
		if m := decodeFrameJSONorMP(t, AppendPongOp(nil, enc, id)); m["op"] != "pong" || toU(m["id"]) != 9 {
			t.Fatalf("pong with id %v", m)
		}
	}
}
