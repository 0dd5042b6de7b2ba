package server_test

import (
	"github.com/starling-ws/starling/internal/wstest"

	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/server"
)

// Deadlines run on the wheel, driven here by a manual clock.
func TestHandshakeDeadline(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{manualClock: true})
		r := wstest.Dial(t, ts.addr)
		r.Write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\n")) // never finished
		ts.settle(t, r)
		ts.advance(4)
		ts.srv.Hub().Flush() // the ticks are served
		if st := ts.srv.Stats(); st.Handshaking != 1 || st.Rejected["timeout"] != 0 {
			t.Fatalf("closed before the 5 s handshake deadline: %+v", st)
		}
		ts.advance(1)
		if resp := r.ReadResponse(); resp.StatusCode != 408 {
			t.Fatalf("status %d, want 408", resp.StatusCode)
		}
		r.ExpectEOF()
	})
}

func TestFragmentDeadline(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{manualClock: true})
		r := wstest.Dial(t, ts.addr).Upgrade()
		r.Send(ws.OpText, false, []byte(`{"op":`))
		ts.settle(t, r)
		ts.advance(9)
		ts.srv.Hub().Flush()
		if n := ts.srv.Stats().DeadlineCloses; n != 0 {
			t.Fatalf("closed before the 10 s deadline (%d)", n)
		}
		ts.advance(1)
		r.ExpectClose(1008)
	})
}

// TestIncompleteFrameDeadline (issue 14 item 3): an unfragmented frame that
// never completes (its header announces 65,536 bytes, 65,000 arrive, then
// one byte now and then) is on the same deadline as a fragmented message:
// closed with 1008 -fragment-timeout after it began, trickle or not. So is
// a header that stops half way.
func TestIncompleteFrameDeadline(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{manualClock: true})
		r := wstest.Dial(t, ts.addr).Upgrade()
		f := wstest.Frame(ws.OpBinary, true, make([]byte, 65536))
		r.Write(f[:len(f)-536])
		ts.settle(t, r)
		for i := 0; i < 9; i++ {
			ts.advance(1)
			r.Write(f[len(f)-536+i : len(f)-535+i]) // one byte a second: still not complete
			ts.settle(t, r)
		}
		if n := ts.srv.Stats().DeadlineCloses; n != 0 {
			t.Fatalf("closed before the 10 s deadline (%d)", n)
		}
		ts.advance(1)
		r.ExpectClose(1008)

		h := wstest.Dial(t, ts.addr).Upgrade()
		h.Write(f[:3]) // 2 of the 4 bytes of an extended header
		ts.settle(t, r, h)
		ts.advance(10)
		h.ExpectClose(1008)
	})
}

// A client that answers pings stays; one that is silent after a ping is
// closed after -pong-timeout.
func TestHeartbeat(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{manualClock: true, srv: func(c *server.Config) {
			c.PingInterval = 4 * time.Second
			c.PongTimeout = 10 * time.Second // longer than the ping window below
		}})
		alive := wstest.Dial(t, ts.addr).Upgrade()
		silent := wstest.Dial(t, ts.addr).Upgrade()
		// Within one interval (plus jitter) each gets a ping.
		for i := 0; i < 5; i++ {
			ts.advance(1)
		}
		for _, c := range []*wstest.Conn{alive, silent} {
			h, p := c.Next()
			if h.OpCode != ws.OpPing || len(p) != 0 {
				t.Fatalf("want empty ping, got %v %q", h.OpCode, p)
			}
		}
		alive.Send(ws.OpPong, true, nil)
		ts.settle(t, alive, silent)
		// Every ping went out by tick 6, so silence is judged by tick 16;
		// the live one's next ping (tick 10) is due only at tick 20.
		ts.advance(10)
		silent.ExpectClose(1008)
		// The live one is still served.
		alive.SendJSON(jsonOp("sub", "hb", 1, nil))
		expectKV(t, alive.NextJSON(), "op", "ack", "id", 1)
		if n := ts.srv.Stats().HeartbeatTimeouts; n != 1 {
			t.Fatalf("heartbeat timeouts %d, want 1", n)
		}
	})
}
