package server_test

import (
	"fmt"
	"testing"

	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/server"
)

// TestResumeAcrossReconnect: a subscriber reconnects with since = the last
// offset and epoch it saw; it gets recovered:true, exactly the missed
// publications, then live ones, in both encodings.
func TestResumeAcrossReconnect(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{srv: func(c *server.Config) { c.HistorySize = 100 }})
		pub := wstest.Dial(t, ts.addr).Upgrade()
		a := wstest.Dial(t, ts.addr).Upgrade()
		a.SendJSON(jsonOp("sub", "r", 1, nil))
		ack := a.NextJSON()
		expectKV(t, ack, "op", "ack", "id", 1, "off", 0)
		epoch := ack["epoch"].(string)
		if _, has := ack["recovered"]; has {
			t.Fatalf("ack of a sub without since says recovered: %v", ack)
		}
		for i := 1; i <= 3; i++ {
			pub.SendJSON(jsonOp("pub", "r", i, fmt.Sprint("m", i)))
			expectKV(t, pub.NextJSON(), "op", "ack", "id", i, "off", i)
			expectKV(t, a.NextJSON(), "op", "msg", "off", i)
		}
		a.C.Close() // the connection drops
		for i := 4; i <= 6; i++ {
			pub.SendJSON(jsonOp("pub", "r", i, fmt.Sprint("m", i)))
			expectKV(t, pub.NextJSON(), "op", "ack", "id", i, "off", i)
		}
		b := wstest.Dial(t, ts.addr).Upgrade()
		sub := jsonOp("sub", "r", 2, nil)
		sub["since"] = map[string]any{"off": 3, "epoch": epoch}
		b.SendJSON(sub)
		expectKV(t, b.NextJSON(), "op", "ack", "id", 2, "off", 6, "epoch", epoch, "recovered", true)
		for i := 4; i <= 6; i++ {
			expectKV(t, b.NextJSON(), "op", "msg", "off", i, "data", fmt.Sprint("m", i))
		}
		pub.SendJSON(jsonOp("pub", "r", 7, "m7"))
		expectKV(t, pub.NextJSON(), "op", "ack", "off", 7)
		expectKV(t, b.NextJSON(), "op", "msg", "off", 7)

		// The same in MessagePack, and a stale epoch.
		c := wstest.Dial(t, ts.addr).Upgrade()
		c.SendMP(map[string]any{"op": "sub", "ch": "r", "id": 3, "since": map[string]any{"off": 5, "epoch": epoch}})
		expectKV(t, c.NextMP(), "op", "ack", "id", 3, "off", 7, "recovered", true)
		expectKV(t, c.NextMP(), "op", "msg", "off", 6)
		expectKV(t, c.NextMP(), "op", "msg", "off", 7)
		d := wstest.Dial(t, ts.addr).Upgrade()
		stale := jsonOp("sub", "r", 4, nil)
		stale["since"] = map[string]any{"off": 5, "epoch": "zzzz"}
		d.SendJSON(stale)
		expectKV(t, d.NextJSON(), "op", "ack", "id", 4, "off", 7, "recovered", false)
		pub.SendJSON(jsonOp("pub", "r", 8, "m8"))
		expectKV(t, pub.NextJSON(), "op", "ack", "off", 8)
		expectKV(t, d.NextJSON(), "op", "msg", "off", 8) // live follows a lost resume
	})
}

// TestPingOp: the app-level ping is answered with a pong (with its id, or
// the prebuilt one without) in the ping's encoding.
func TestPingOp(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{})
		c := wstest.Dial(t, ts.addr).Upgrade()
		c.SendJSON(map[string]any{"op": "ping", "id": 7})
		expectKV(t, c.NextJSON(), "op", "pong", "id", 7)
		c.SendJSON(map[string]any{"op": "ping"})
		if m := c.NextJSON(); m["op"] != "pong" || len(m) != 1 {
			t.Fatalf("pong without id: %v", m)
		}
		c.SendMP(map[string]any{"op": "ping", "id": "x"})
		expectKV(t, c.NextMP(), "op", "pong", "id", "x")
	})
}
