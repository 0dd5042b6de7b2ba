package metrics_test

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"

	"github.com/starling-ws/starling/gate"
	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/server"
)

// Each gate refusal shows under its reason, each failed token under its
// check, and the gate's tables as gauges.
func TestGateMetrics(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		now := time.Unix(1_700_000_000, 0)
		clock := func() time.Time { return now } // stands still: the accept bucket refills only when told
		secret := []byte("0123456789abcdef0123456789abcdef-metrics")
		r := startRig(t, engine, func(c *server.Config) {
			var err error
			if c.Tokens, err = gate.NewVerifier(gate.TokenConfig{Secret: secret, Now: clock}); err != nil {
				t.Fatal(err)
			}
			if c.Origins, err = gate.ParseOrigins("https://ok.example", false); err != nil {
				t.Fatal(err)
			}
			if c.PerIP, err = gate.NewPerIP(1, 64); err != nil {
				t.Fatal(err)
			}
			if c.AcceptRate, err = gate.NewAcceptRate(1, 5, gate.DefaultMaxRetryAfter); err != nil {
				t.Fatal(err)
			}
			c.Now = clock
		})
		token := func(ttl time.Duration, key []byte) string {
			s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
				"sub": "u", "exp": now.Add(ttl).Unix(), "ch": map[string]any{"sub": []string{"room.*"}},
			}).SignedString(key)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		good := token(time.Hour, secret)
		send := func(from, hdr string) *wstest.Conn {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
			c, err := d.Dial("tcp", r.wsAddr)
			if err != nil {
				t.Fatal(err)
			}
			conn := wstest.Wrap(t, c)
			conn.Write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Key: " + wstest.TestKey + "\r\nSec-WebSocket-Version: 13\r\n" + hdr + "\r\n"))
			return conn
		}
		status := func(c *wstest.Conn) int {
			resp := c.ReadResponse()
			resp.Body.Close()
			return resp.StatusCode
		}
		want := func(c *wstest.Conn, code int) {
			t.Helper()
			if got := status(c); got != code {
				t.Fatalf("status %d, want %d", got, code)
			}
		}
		want(send("127.0.0.2", "Authorization: Bearer "+good+"\r\n"), http.StatusSwitchingProtocols)
		want(send("127.0.0.3", "Authorization: Bearer "+token(-time.Hour, secret)+"\r\n"), http.StatusUnauthorized)
		want(send("127.0.0.4", "Origin: https://evil.example\r\n"), http.StatusForbidden)
		want(send("127.0.0.2", "Authorization: Bearer "+good+"\r\n"), http.StatusTooManyRequests)
		bad := send("127.0.0.5", "")
		want(bad, http.StatusSwitchingProtocols)
		bad.SendJSON(map[string]any{"op": "auth", "token": token(time.Hour, []byte("another-secret-0123456789abcdef-zz"))})
		if code := bad.NextClose(); code != 4401 {
			t.Fatalf("bad auth op: close %d, want 4401", code)
		}
		want(send("127.0.0.6", ""), http.StatusServiceUnavailable) // the sixth handshake of a burst of 5
		bad.Send(ws.OpClose, true, closeBody(4401))
		bad.C.Close()

		wstest.WaitFor(t, "the 4401 close counted", func() bool {
			return scrape(t, r.base+"/metrics").value("starling_closes_total", "code", "4401", "initiator", "server") == 1
		})
		f := scrape(t, r.base+"/metrics")
		for _, c := range []struct {
			name   string
			labels []string
			v      float64
		}{
			{"starling_handshakes_rejected_total", []string{"reason", "unauthorized"}, 1},
			{"starling_handshakes_rejected_total", []string{"reason", "forbidden"}, 1},
			{"starling_handshakes_rejected_total", []string{"reason", "too_many"}, 1},
			{"starling_handshakes_rejected_total", []string{"reason", "rate_limited"}, 1},
			{"starling_auth_failures_total", []string{"check", "expired"}, 1},
			{"starling_auth_failures_total", []string{"check", "signature"}, 1},
			{"starling_auth_failures_total", []string{"check", "timeout"}, 0},
			{"starling_authentications_total", nil, 1}, // the cap refuses before the token is verified
			{"starling_token_expiry_closes_total", nil, 0},
			{"starling_gate_client_addresses", nil, 2}, // .2 open, .3 answered 401 and not yet gone
			{"starling_gate_permission_sets", nil, 1},  // room.* (shared by both good tokens)
		} {
			if got := f.value(c.name, c.labels...); got != c.v {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.v)
			}
		}
	})
}
