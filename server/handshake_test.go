package server_test

import (
	"github.com/starling-ws/starling/internal/wstest"

	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/server"
)

// Bad upgrades get an HTTP status before any WebSocket byte.
func TestHandshakeRejections(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{srv: func(c *server.Config) { c.MaxConns = 1 }})
		good := wstest.UpgradeRequest("/ws")
		f := func(req string, status int, header, value string) {
			t.Helper()
			r := wstest.Dial(t, ts.addr)
			r.Write([]byte(req))
			resp := r.ReadResponse()
			if resp.StatusCode != status {
				t.Fatalf("%q: status %d, want %d", req, resp.StatusCode, status)
			}
			if header != "" && resp.Header.Get(header) != value {
				t.Fatalf("%q: %s = %q, want %q", req, header, resp.Header.Get(header), value)
			}
			r.ExpectEOF()
		}
		f(strings.Replace(good, "Version: 13", "Version: 8", 1), 426, "Sec-WebSocket-Version", "13")
		f(strings.Replace(good, "GET", "POST", 1), 405, "Allow", "GET")
		f(strings.Replace(good, "Sec-WebSocket-Key: "+wstest.TestKey+"\r\n", "", 1), 400, "", "")
		f(strings.Replace(good, wstest.TestKey, "short", 1), 400, "", "")
		f(strings.Replace(good, "Upgrade: websocket\r\n", "", 1), 400, "", "")
		f(strings.Replace(good, "HTTP/1.1", "HTTP/1.0", 1), 400, "", "")
		f(wstest.UpgradeRequest("/other"), 404, "", "")
		f("garbage\r\n\r\n", 400, "", "")
		f("GET /ws HTTP/1.1\r\nX: "+strings.Repeat("a", 9000), 431, "", "")
		// Issue 14 item 9: a version that overflows, and a space before a
		// header's colon (RFC 9112 5.1).
		f(strings.Replace(good, "HTTP/1.1", "HTTP/1.18446744073709551617", 1), 400, "", "")
		f(strings.Replace(good, "Host: x", "Host : x", 1), 400, "", "")

		// -max-conns 1: the second upgrade gets 503 while the first is open,
		// and is accepted again once it leaves.
		first := wstest.Dial(t, ts.addr).Upgrade()
		f(good, 503, "", "")
		first.C.Close()
		wstest.WaitFor(t, "slot freed", func() bool { return ts.srv.Open() == 0 })
		wstest.Dial(t, ts.addr).Upgrade()

		st := ts.srv.Stats()
		for reason, want := range map[string]uint64{"bad_version": 1, "bad_method": 1, "not_found": 1, "too_large": 1, "full": 1} {
			if st.Rejected[reason] != want {
				t.Errorf("rejected[%s] = %d, want %d (%v)", reason, st.Rejected[reason], want, st.Rejected)
			}
		}
	})
}

// A request split over reads, whose last part arrives together with many
// frames (more than the handshake buffer may hold): every frame is served.
func TestSplitHandshakeWithPipelinedFrames(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{})
		r := wstest.Dial(t, ts.addr)
		req := []byte(wstest.UpgradeRequest("/ws"))
		r.Write(req[:10])
		ts.settle(t, r) // the first part is read on its own
		var tail []byte
		tail = append(tail, req[10:]...)
		const n = 400
		for i := 1; i <= n; i++ {
			tail = append(tail, wstest.Frame(ws.OpText, true, []byte(fmt.Sprintf(`{"op":"sub","ch":"c%d","id":%d}`, i, i)))...)
		}
		if len(tail) <= frame.MaxRequest {
			t.Fatalf("tail of %d bytes does not exceed the handshake buffer", len(tail))
		}
		r.Write(tail)
		if resp := r.ReadResponse(); resp.StatusCode != 101 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		for i := 1; i <= n; i++ {
			expectKV(t, r.NextJSON(), "op", "ack", "id", i)
		}
	})
}

// Drain answers a client still in its handshake with HTTP 503, not a
// WebSocket close frame, and open clients with 1001.
func TestDrainAnswersHandshakingWithHTTP(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{})
		open := wstest.Dial(t, ts.addr).Upgrade()
		half := wstest.Dial(t, ts.addr)
		half.Write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\n"))
		wstest.WaitFor(t, "both registered", func() bool { return ts.srv.Hub().Stats().Conns == 2 })
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			done <- ts.srv.Drain(ctx)
		}()
		if resp := half.ReadResponse(); resp.StatusCode != 503 {
			t.Fatalf("handshaking client: status %d, want 503", resp.StatusCode)
		}
		half.ExpectEOF()
		half.C.Close() // as a client does once the server is done
		open.ExpectClose(1001)
		open.C.Close()
		if err := <-done; err != nil {
			t.Fatalf("drain: %v", err)
		}
		if got := ts.srv.Stats().Rejected["draining"]; got != 1 {
			t.Fatalf("rejected[draining] = %d, want 1", got)
		}
	})
}

// Drain while clients leave on their own: every connection ends, nothing
// races (run under -race), and the gauges come back to zero.
func TestDrainWhileClientsLeave(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{})
		var cs []*wstest.Conn
		for i := 0; i < 100; i++ {
			cs = append(cs, wstest.Dial(t, ts.addr).Upgrade())
		}
		done := make(chan error, 1)
		go func() {
			// Closes are spread over the first half of the window: keep it short.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			done <- ts.srv.Drain(ctx)
		}()
		for i, c := range cs {
			if i%2 == 0 {
				c.C.Close() // leaves without a close handshake
			} else {
				go func(c *wstest.Conn) { io.Copy(io.Discard, c.C); c.C.Close() }(c) // closes on the server's FIN
			}
		}
		if err := <-done; err != nil {
			t.Fatalf("drain: %v (left %d)", err, ts.srv.Hub().Stats().Conns)
		}
		if st := ts.srv.Stats(); st.Open != 0 || st.Handshaking != 0 {
			t.Fatalf("gauges after drain: open %d, handshaking %d", st.Open, st.Handshaking)
		}
	})
}
