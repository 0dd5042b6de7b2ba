package server_test

import (
	"github.com/starling-ws/starling/internal/wstest"

	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/gorilla/websocket"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/starling-ws/starling/server"
)

// Subscribers on an independent client library (gorilla, JSON) and on
// gobwas (MessagePack) receive every publish in order with offsets 1..N.
func TestPubSubOrderAndOffsets(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{})
		const n = 200

		gj, _, err := websocket.DefaultDialer.Dial(ts.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer gj.Close()
		must(t, gj.WriteJSON(jsonOp("sub", "room.1", 1, nil)))
		var ack map[string]any
		must(t, gj.ReadJSON(&ack))
		expectKV(t, ack, "op", "ack", "id", 1)

		ctx := context.Background()
		gb, _, _, err := ws.Dial(ctx, ts.url)
		if err != nil {
			t.Fatal(err)
		}
		defer gb.Close()
		sub, _ := msgpack.Marshal(map[string]any{"op": "sub", "ch": "room.1", "id": "a"})
		must(t, wsutil.WriteClientMessage(gb, ws.OpBinary, sub))
		p, op, err := wsutil.ReadServerData(gb)
		must(t, err)
		var m map[string]any
		must(t, msgpack.Unmarshal(p, &m))
		if op != ws.OpBinary {
			t.Fatalf("ack op %v", op)
		}
		expectKV(t, m, "op", "ack", "id", "a")

		pub := wstest.Dial(t, ts.addr).Upgrade()
		for i := 1; i <= n; i++ {
			pub.SendJSON(jsonOp("pub", "room.1", nil, map[string]any{"i": i}))
		}
		for i := 1; i <= n; i++ {
			var msg map[string]any
			must(t, gj.ReadJSON(&msg))
			expectKV(t, msg, "op", "msg", "ch", "room.1", "off", i)
			if d := msg["data"].(map[string]any); d["i"] != float64(i) {
				t.Fatalf("gorilla: message %d carries %v", i, d)
			}
			p, op, err := wsutil.ReadServerData(gb)
			must(t, err)
			if op != ws.OpBinary {
				t.Fatalf("msgpack subscriber got %v", op)
			}
			var mm map[string]any
			must(t, msgpack.Unmarshal(p, &mm))
			expectKV(t, mm, "op", "msg", "ch", "room.1", "off", i)
		}
	})
}

// data arrives exactly as published: bytes stay bytes, strings stay
// strings, empty stays empty; across encodings bytes become base64 in JSON.
func TestDataKeptAsPublished(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{})
		mp := wstest.Dial(t, ts.addr).Upgrade()
		js := wstest.Dial(t, ts.addr).Upgrade()
		mp.SendMP(map[string]any{"op": "sub", "ch": "d", "id": 1})
		expectKV(t, mp.NextMP(), "op", "ack")
		js.SendJSON(jsonOp("sub", "d", 1, nil))
		expectKV(t, js.NextJSON(), "op", "ack")

		pub := wstest.Dial(t, ts.addr).Upgrade()
		cases := []struct {
			name   string
			data   any // published over msgpack
			wantMP any
			wantJS string // raw JSON of data
		}{
			{"bytes", []byte{0, 1, 2, 255}, []byte{0, 1, 2, 255}, `"AAEC/w=="`},
			{"empty bytes", []byte{}, []byte{}, `""`},
			{"string", "héllo", "héllo", `"héllo"`},
			{"empty string", "", "", `""`},
			{"int", int64(-7), int8(-7), `-7`},
			{"nil", nil, nil, `null`},
			{"map", map[string]any{"k": []any{true, 1.5}}, map[string]any{"k": []any{true, 1.5}}, `{"k":[true,1.5]}`},
		}
		for i, c := range cases {
			raw, err := msgpack.Marshal(map[string]any{"op": "pub", "ch": "d", "data": c.data})
			must(t, err)
			pub.Send(ws.OpBinary, true, raw)

			_, p := mp.NextData()
			var env struct {
				Op   string             `msgpack:"op"`
				Off  uint64             `msgpack:"off"`
				Data msgpack.RawMessage `msgpack:"data"`
			}
			must(t, msgpack.Unmarshal(p, &env))
			want, _ := msgpack.Marshal(c.data)
			// data is the envelope's last key: its raw bytes end the payload.
			if env.Off != uint64(i+1) || !bytes.HasSuffix(p, append([]byte("\xa4data"), want...)) {
				t.Fatalf("%s: msgpack subscriber got off %d payload %x, want data %x", c.name, env.Off, p, want)
			}
			_, jp := js.NextData()
			var jenv struct {
				Data json.RawMessage `json:"data"`
			}
			must(t, json.Unmarshal(jp, &jenv))
			if string(jenv.Data) != c.wantJS {
				t.Fatalf("%s: JSON subscriber got %s, want %s", c.name, jenv.Data, c.wantJS)
			}
		}
		// JSON-published values reach a msgpack subscriber with their type.
		pub.Send(ws.OpText, true, []byte(`{"op":"pub","ch":"d","data":{"s":"","n":42,"f":0.5,"a":[]}}`))
		m := mp.NextMP()
		d := m["data"].(map[string]any)
		if d["s"] != "" || fmt.Sprint(d["n"]) != "42" || d["f"] != 0.5 || len(d["a"].([]any)) != 0 {
			t.Fatalf("JSON->msgpack data %v", d)
		}
		if jm := js.NextJSON(); fmt.Sprint(jm["data"]) != fmt.Sprint(map[string]any{"s": "", "n": 42, "f": 0.5, "a": []any{}}) {
			t.Fatalf("JSON->JSON data %v", jm["data"])
		}
	})
}

func TestUnsubscribeStopsDelivery(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{})
		c := wstest.Dial(t, ts.addr).Upgrade()
		c.SendJSON(jsonOp("sub", "a", 1, nil))
		expectKV(t, c.NextJSON(), "op", "ack", "id", 1)
		c.SendJSON(jsonOp("sub", "b", 2, nil))
		expectKV(t, c.NextJSON(), "op", "ack", "id", 2)
		c.SendJSON(jsonOp("pub", "a", nil, "first"))
		expectKV(t, c.NextJSON(), "op", "msg", "ch", "a", "data", "first")
		c.SendJSON(jsonOp("unsub", "a", 3, nil))
		expectKV(t, c.NextJSON(), "op", "ack", "id", 3)
		c.SendJSON(jsonOp("pub", "a", 4, "unseen"))
		expectKV(t, c.NextJSON(), "op", "ack", "id", 4)
		c.SendJSON(jsonOp("pub", "b", nil, "sentinel"))
		expectKV(t, c.NextJSON(), "op", "msg", "ch", "b", "data", "sentinel")
	})
}

// A malformed op gets err and the connection stays up.
func TestMalformedOps(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{srv: func(c *server.Config) { c.MaxSubscriptions = 2 }})
		c := wstest.Dial(t, ts.addr).Upgrade()
		f := func(text bool, in string, code int) {
			t.Helper()
			if text {
				c.Send(ws.OpText, true, []byte(in))
				expectKV(t, c.NextJSON(), "op", "err", "code", code)
			} else {
				c.Send(ws.OpBinary, true, []byte(in))
				expectKV(t, c.NextMP(), "op", "err", "code", code)
			}
		}
		f(true, `not json`, 400)
		f(true, `[1,2]`, 400)
		f(true, `{"op":"sub"}`, 400)
		f(true, `{"op":"nope","ch":"a"}`, 404)
		f(true, `{"op":"sub","ch":"bad channel!"}`, 422)
		f(true, `{"op":"sub","ch":""}`, 422)
		f(true, `{"op":"pub","ch":"a"}`, 400)
		f(true, `{"op":"pub","ch":"a","data":}`, 400)
		f(true, `{"op":"sub","ch":"a"} trailing`, 400)
		f(false, "\xc1", 400)
		f(false, "\x81\xa2op\xa3pub", 400) // msgpack map cut short of ch
		// msgpack data that JSON cannot carry (ext type) is refused up front.
		ext, _ := msgpack.Marshal(map[string]any{"op": "pub", "ch": "a", "data": time.Unix(1, 0)})
		f(false, string(ext), 400)
		c.SendJSON(jsonOp("sub", "x1", 1, nil))
		expectKV(t, c.NextJSON(), "op", "ack")
		c.SendJSON(jsonOp("sub", "x2", 2, nil))
		expectKV(t, c.NextJSON(), "op", "ack")
		c.SendJSON(jsonOp("sub", "x3", 3, nil))
		expectKV(t, c.NextJSON(), "op", "err", "code", 429, "id", 3)
		// Still up and working.
		c.SendJSON(jsonOp("pub", "x1", 9, "ok"))
		m := c.NextJSON()
		if m["op"] == "msg" {
			expectKV(t, m, "data", "ok")
			expectKV(t, c.NextJSON(), "op", "ack", "id", 9)
		} else {
			expectKV(t, m, "op", "ack", "id", 9)
			expectKV(t, c.NextJSON(), "op", "msg", "data", "ok")
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var _ = time.Second
