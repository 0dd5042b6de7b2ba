package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

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
		// Its own msg and its pub's ack, in either order (the loop writes
		// the ack, the shard worker the msg).
		got := map[string]bool{}
		for range 2 {
			m := good.NextJSON()
			got[fmt.Sprint(m["op"], m["data"])] = true
		}
		if !got["ack<nil>"] || !got["msgstill here"] {
			t.Fatalf("after a neighbour's panic: %v", got)
		}
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
		got := map[any]bool{} // its pub's ack and its own msg, in either order
		for range 2 {
			got[c.NextJSON()["op"]] = true
		}
		if !got["ack"] || !got["msg"] {
			t.Fatalf("pub on an existing channel: %v", got)
		}
	})
}

// TestRateLimitedPublisherSlowed: a publisher past -max-publish-rate gets
// err 429 and its connection stops being read until the next tick, so a
// flood costs the server one read buffer's worth of refusals per second,
// not work per message, and TCP backpressure reaches the flooder (its
// writes stop completing). The next tick reads it again. Epoll engine: the
// netpoll engine reads on its own and cannot pause.
func TestRateLimitedPublisherSlowed(t *testing.T) {
	ts := startServer(t, "epoll", opts{manualClock: true, srv: func(c *server.Config) { c.PublishRate = 5 }})
	c := wstest.Dial(t, ts.addr).Upgrade()
	for i := range 5 {
		c.SendJSON(jsonOp("pub", "f", i, i))
		expectKV(t, c.NextJSON(), "op", "ack", "id", i)
	}
	flood := wstest.Frame(ws.OpText, true, []byte(`{"op":"pub","ch":"f","data":"`+strings.Repeat("x", 1000)+`"}`))
	sent := 0
	for {
		c.C.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := c.C.Write(flood)
		sent += n
		if err != nil {
			break // backpressure
		}
		if sent > 256<<20 {
			t.Fatal("256 MiB written by a rate-limited publisher: not slowed")
		}
	}
	limited := ts.srv.Stats().PublishesLimited
	if msgs := uint64(sent / len(flood)); limited == 0 || limited > msgs/4 {
		t.Fatalf("%d of %d flood publishes were read and refused: want a few read batches, not all", limited, msgs)
	}
	// The next tick resumes reading: more of the flood is read (and refused).
	ts.advance(1)
	wstest.WaitFor(t, "reading resumed", func() bool { return ts.srv.Stats().PublishesLimited > limited })
	// Paused with a frame half read, the client is not held to the
	// incomplete-frame deadline for bytes the server declined to read: it
	// stays connected through 15 more seconds of flooding.
	for range 15 {
		ts.advance(1)
		ts.srv.Hub().Flush()
	}
	if st := ts.srv.Stats(); st.DeadlineCloses != 0 || st.Open != 1 {
		t.Fatalf("a paused publisher was closed for its own pause: %+v", st)
	}
}
