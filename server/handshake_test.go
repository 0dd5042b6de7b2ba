package server_test

import (
	"strings"
	"testing"

	"github.com/starling-ws/starling/server"
)

// Bad upgrades get an HTTP status before any WebSocket byte.
func TestHandshakeRejections(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{srv: func(c *server.Config) { c.MaxConns = 1 }})
		good := upgradeRequest("/ws")
		f := func(req string, status int, header, value string) {
			t.Helper()
			r := dialRaw(t, ts.addr)
			r.write([]byte(req))
			resp := r.readResponse()
			if resp.StatusCode != status {
				t.Fatalf("%q: status %d, want %d", req, resp.StatusCode, status)
			}
			if header != "" && resp.Header.Get(header) != value {
				t.Fatalf("%q: %s = %q, want %q", req, header, resp.Header.Get(header), value)
			}
			r.expectEOF()
		}
		f(strings.Replace(good, "Version: 13", "Version: 8", 1), 426, "Sec-WebSocket-Version", "13")
		f(strings.Replace(good, "GET", "POST", 1), 405, "Allow", "GET")
		f(strings.Replace(good, "Sec-WebSocket-Key: "+testKey+"\r\n", "", 1), 400, "", "")
		f(strings.Replace(good, testKey, "short", 1), 400, "", "")
		f(strings.Replace(good, "Upgrade: websocket\r\n", "", 1), 400, "", "")
		f(strings.Replace(good, "HTTP/1.1", "HTTP/1.0", 1), 400, "", "")
		f(upgradeRequest("/other"), 404, "", "")
		f("garbage\r\n\r\n", 400, "", "")
		f("GET /ws HTTP/1.1\r\nX: "+strings.Repeat("a", 9000), 431, "", "")

		// -max-conns 1: the second upgrade gets 503 while the first is open,
		// and is accepted again once it leaves.
		first := dialRaw(t, ts.addr).upgrade()
		f(good, 503, "", "")
		first.c.Close()
		waitFor(t, "slot freed", func() bool { return ts.srv.Open() == 0 })
		dialRaw(t, ts.addr).upgrade()

		st := ts.srv.Stats()
		for reason, want := range map[string]uint64{"bad_version": 1, "bad_method": 1, "not_found": 1, "too_large": 1, "full": 1} {
			if st.Rejected[reason] != want {
				t.Errorf("rejected[%s] = %d, want %d (%v)", reason, st.Rejected[reason], want, st.Rejected)
			}
		}
	})
}
