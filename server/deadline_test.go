package server_test

import (
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/server"
)

// Deadlines run on the wheel, driven here by a manual clock.
func TestHandshakeDeadline(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{manualClock: true})
		r := dialRaw(t, ts.addr)
		r.write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\n")) // never finished
		waitFor(t, "registered", func() bool { return ts.srv.Hub().Stats().Conns == 1 })
		ts.advance(4)
		time.Sleep(50 * time.Millisecond)
		if ts.srv.Hub().Stats().Conns != 1 {
			t.Fatal("closed before the 5 s handshake deadline")
		}
		ts.advance(1)
		if resp := r.readResponse(); resp.StatusCode != 408 {
			t.Fatalf("status %d, want 408", resp.StatusCode)
		}
		r.expectEOF()
	})
}

func TestFragmentDeadline(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{manualClock: true})
		r := dialRaw(t, ts.addr).upgrade()
		r.send(ws.OpText, false, []byte(`{"op":`))
		time.Sleep(50 * time.Millisecond)
		ts.advance(10)
		r.expectClose(1008)
	})
}

// A client that answers pings stays; one that is silent after a ping is
// closed after -pong-timeout.
func TestHeartbeat(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{manualClock: true, srv: func(c *server.Config) {
			c.PingInterval = 4 * time.Second
			c.PongTimeout = 10 * time.Second // longer than the ping window below
		}})
		alive := dialRaw(t, ts.addr).upgrade()
		silent := dialRaw(t, ts.addr).upgrade()
		// Within one interval (plus jitter) each gets a ping.
		for i := 0; i < 5; i++ {
			ts.advance(1)
		}
		for _, c := range []*rawConn{alive, silent} {
			h, p := c.next()
			if h.OpCode != ws.OpPing || len(p) != 0 {
				t.Fatalf("want empty ping, got %v %q", h.OpCode, p)
			}
		}
		alive.send(ws.OpPong, true, nil)
		time.Sleep(50 * time.Millisecond)
		// Every ping went out by tick 6, so silence is judged by tick 16;
		// the live one's next ping (tick 10) is due only at tick 20.
		ts.advance(10)
		silent.expectClose(1008)
		// The live one is still served.
		alive.sendJSON(jsonOp("sub", "hb", 1, nil))
		expectKV(t, alive.nextJSON(), "op", "ack", "id", 1)
		if n := ts.srv.Stats().HeartbeatTimeouts; n != 1 {
			t.Fatalf("heartbeat timeouts %d, want 1", n)
		}
	})
}
