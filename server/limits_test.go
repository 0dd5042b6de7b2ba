package server_test

import (
	"fmt"
	"testing"

	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/server"
)

// TestPanicContained: a panic while handling one connection's op closes
// that connection with 1011 and is counted; the loop and the other
// connections go on (issue 9).
func TestPanicContained(t *testing.T) {
	server.SetTestHookMessage(func(op *frame.Op) {
		if string(op.Ch) == "boom" {
			panic("test panic")
		}
	})
	t.Cleanup(func() { server.SetTestHookMessage(nil) })
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{})
		good := wstest.Dial(t, ts.addr).Upgrade()
		good.SendJSON(jsonOp("sub", "calm", 1, nil))
		expectKV(t, good.NextJSON(), "op", "ack", "id", 1)
		for i := range 2 {
			bad := wstest.Dial(t, ts.addr).Upgrade()
			bad.SendJSON(jsonOp("pub", "boom", i, "x"))
			bad.ExpectClose(1011)
		}
		good.SendJSON(jsonOp("pub", "calm", 2, "still here"))
		// Its own pub's ack (the loop) and msg (the shard worker) may come
		// in either order: both must come.
		a, b := good.NextJSON(), good.NextJSON()
		if a["op"] == "msg" {
			a, b = b, a
		}
		expectKV(t, a, "op", "ack", "id", 2)
		expectKV(t, b, "op", "msg", "data", "still here")
		if n := ts.srv.Stats().Panics; n != 2 {
			t.Fatalf("panics counted %d, want 2", n)
		}
	})
}

// TestMaxHandshakes: connections beyond -max-handshakes that have not
// upgraded yet are answered 503 at once; upgraded ones do not count.
func TestMaxHandshakes(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{srv: func(c *server.Config) { c.MaxHandshakes = 2 }})
		idle := []*wstest.Conn{wstest.Dial(t, ts.addr), wstest.Dial(t, ts.addr)}
		wstest.WaitFor(t, "two handshaking", func() bool { return ts.srv.Stats().Handshaking == 2 })
		extra := wstest.Dial(t, ts.addr)
		if resp := extra.ReadResponse(); resp.StatusCode != 503 {
			t.Fatalf("third handshaking connection: status %d, want 503", resp.StatusCode)
		}
		// Finishing one handshake makes room.
		if code := idle[0].Request("/ws", "13"); code != 101 {
			t.Fatalf("upgrade: %d", code)
		}
		wstest.WaitFor(t, "one handshaking", func() bool { return ts.srv.Stats().Handshaking == 1 })
		wstest.Dial(t, ts.addr).Upgrade()
		if n := ts.srv.Stats().Rejected["busy"]; n != 1 {
			t.Fatalf("rejected busy %d, want 1", n)
		}
	})
}

// TestPublishRate: past -max-publish-rate in one second a pub gets err
// 429; the next second refills the bucket.
func TestPublishRate(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{manualClock: true, srv: func(c *server.Config) { c.PublishRate = 5 }})
		c := wstest.Dial(t, ts.addr).Upgrade()
		for i := range 5 {
			c.SendJSON(jsonOp("pub", "r", i, i))
			expectKV(t, c.NextJSON(), "op", "ack", "id", i)
		}
		c.SendJSON(jsonOp("pub", "r", 5, 5))
		expectKV(t, c.NextJSON(), "op", "err", "id", 5, "code", 429)
		ts.advance(1)
		c.SendJSON(jsonOp("pub", "r", 6, 6))
		expectKV(t, c.NextJSON(), "op", "ack", "id", 6)
		if n := ts.srv.Stats().PublishesLimited; n != 1 {
			t.Fatalf("limited %d, want 1", n)
		}
	})
}

// TestMaxChannelsErr: a sub that would create a channel past -max-channels
// gets err 429; the connection stays and existing channels still work.
func TestMaxChannelsErr(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{srv: func(c *server.Config) { c.MaxChannels = 2; c.HistorySize = 0 }})
		c := wstest.Dial(t, ts.addr).Upgrade()
		for i := range 2 {
			c.SendJSON(jsonOp("sub", fmt.Sprint("c", i), i, nil))
			expectKV(t, c.NextJSON(), "op", "ack", "id", i)
		}
		c.SendJSON(jsonOp("sub", "c2", 2, nil))
		expectKV(t, c.NextJSON(), "op", "err", "id", 2, "code", 429)
		c.SendJSON(jsonOp("pub", "c1", 3, "ok"))
		expectKV(t, c.NextJSON(), "op", "ack", "id", 3)
		expectKV(t, c.NextJSON(), "op", "msg", "ch", "c1")
	})
}
