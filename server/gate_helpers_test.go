package server_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"

	"github.com/starling-ws/starling/gate"
	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/server"
)

// The gate's tests run on a wall clock of their own (server.Config.Now and
// the Verifier's Now): it moves only when a test moves it, so token times
// and the accept bucket are decided by the test, never by how fast the
// machine is. The coarse clock (the wheel) is the manual shard.Clock.

// wallClock is a settable wall clock, safe for concurrent use.
type wallClock struct{ ns atomic.Int64 }

func newWall() *wallClock {
	w := &wallClock{}
	w.ns.Store(time.Unix(1_700_000_000, 0).UnixNano())
	return w
}

func (w *wallClock) Now() time.Time      { return time.Unix(0, w.ns.Load()) }
func (w *wallClock) Add(d time.Duration) { w.ns.Add(int64(d)) }

// testSecret is the HMAC key of the gate tests' verifier.
var testSecret = []byte("0123456789abcdef0123456789abcdef-server-test")

// withTokens turns tokens on with w as the wall clock, and puts pings
// far away so that manual-clock tests see only the deadlines they test.
func withTokens(w *wallClock, more ...func(*server.Config)) func(*server.Config) {
	return func(c *server.Config) {
		v, err := gate.NewVerifier(gate.TokenConfig{Secret: testSecret, Leeway: gate.DefaultLeeway, Now: w.Now})
		if err != nil {
			panic(err)
		}
		c.Tokens, c.Now = v, w.Now
		c.PingInterval = time.Hour
		for _, f := range more {
			f(c)
		}
	}
}

// claims is a valid claim set at w's time: user, expiry after ttl, and
// the ch claim's sub and pub lists (nil: absent).
func claims(w *wallClock, user string, ttl time.Duration, sub, pub []string) jwt.MapClaims {
	c := jwt.MapClaims{"exp": w.Now().Add(ttl).Unix(), "iat": w.Now().Unix()}
	if user != "" {
		c["sub"] = user
	}
	if sub != nil || pub != nil {
		c["ch"] = map[string]any{"sub": sub, "pub": pub}
	}
	return c
}

// mint signs c with HS256 and the test secret.
func mint(t testing.TB, c jwt.MapClaims) string {
	t.Helper()
	return signWith(t, jwt.SigningMethodHS256, testSecret, c)
}

func signWith(t testing.TB, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// upgradeReq is a valid upgrade request for target ("/ws?token=...") with
// extra header lines ("Origin: https://x").
func upgradeReq(target string, headers ...string) string {
	var b strings.Builder
	b.WriteString("GET " + target + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + wstest.TestKey + "\r\nSec-WebSocket-Version: 13\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// response is an HTTP answer to an upgrade request, body read (empty for
// a 101).
type response struct {
	status int
	header http.Header
	body   string
}

// request sends raw bytes (an upgrade request, maybe behind a PROXY
// header) on c and reads the answer.
func request(c *wstest.Conn, raw string) response {
	c.T.Helper()
	c.Write([]byte(raw))
	resp := c.ReadResponse()
	r := response{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode != 101 {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			c.T.Fatalf("reading the %d body: %v", resp.StatusCode, err)
		}
		r.body = string(b)
	}
	return r
}

// dialFrom connects to addr from local address from ("127.0.0.2"): every
// 127/8 address is this host's on Linux, so a test has many clients.
func dialFrom(t testing.TB, addr, from string) *wstest.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	return wstest.Wrap(t, c)
}

// upgradeWith dials, sends an upgrade request with the given target and
// headers and expects 101.
func (ts *testServer) upgradeWith(t testing.TB, target string, headers ...string) *wstest.Conn {
	t.Helper()
	c := wstest.Dial(t, ts.addr)
	if r := request(c, upgradeReq(target, headers...)); r.status != 101 {
		t.Fatalf("upgrade %s %v: %d %q", target, headers, r.status, r.body)
	}
	return c
}

// expectRefused checks an HTTP refusal: status and body (without its
// final newline).
func expectRefused(t testing.TB, r response, status int, body string) {
	t.Helper()
	if r.status != status || strings.TrimSuffix(r.body, "\n") != body {
		t.Fatalf("got %d %q, want %d %q", r.status, r.body, status, body)
	}
}

// expectCloseReason reads to a close frame, checks code and reason, ends
// the close handshake and closes the socket.
func expectCloseReason(t testing.TB, c *wstest.Conn, code ws.StatusCode, reason string) {
	t.Helper()
	for {
		h, p := c.Next()
		if h.OpCode != ws.OpClose {
			continue
		}
		got, why := ws.ParseCloseFrameData(p)
		if got != code || why != reason {
			t.Fatalf("close %d %q, want %d %q", got, why, code, reason)
		}
		c.Send(ws.OpClose, true, p[:2])
		c.ExpectEOF()
		c.C.Close() // the server's OnClose follows (not the close grace)
		return
	}
}

// bearer is an Authorization header line.
func bearer(tok string) string { return "Authorization: Bearer " + tok }
