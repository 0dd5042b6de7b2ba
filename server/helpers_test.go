package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/starling-ws/starling/poller"
	"github.com/starling-ws/starling/server"
	"github.com/starling-ws/starling/shard"
)

var engines = []string{"epoll", "netpoll"}

// eachEngine runs f as a subtest per engine: both engines pass one suite.
func eachEngine(t *testing.T, f func(t *testing.T, engine string)) {
	for _, e := range engines {
		t.Run(e, func(t *testing.T) { f(t, e) })
	}
}

type testServer struct {
	srv   *server.Server
	clock *shard.Clock
	addr  string
	url   string
}

type opts struct {
	srv func(*server.Config)
	eng func(*poller.Config)
	// manualClock leaves the clock stopped: the test advances it.
	manualClock bool
}

// startServerB is startServer for benchmarks (default config, real clock).
func startServerB(b *testing.B, engine string) *testServer {
	b.Helper()
	eng, err := poller.New(engine, poller.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	clock := shard.NewClock()
	clock.Start()
	cfg := server.Defaults()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(cfg, eng, clock)
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close(); clock.Stop() })
	addr := eng.Addr().String()
	return &testServer{srv: srv, clock: clock, addr: addr, url: "ws://" + addr + cfg.Path}
}

func startServer(t *testing.T, engine string, o opts) *testServer {
	t.Helper()
	cfg := server.Defaults()
	if o.srv != nil {
		o.srv(&cfg)
	}
	ecfg := poller.Config{Addr: "127.0.0.1:0"}
	if o.eng != nil {
		o.eng(&ecfg)
	}
	eng, err := poller.New(engine, ecfg)
	if err != nil {
		t.Fatalf("engine %s: %v", engine, err)
	}
	clock := shard.NewClock()
	if !o.manualClock {
		clock.Start()
	}
	srv, err := server.New(cfg, eng, clock)
	if err != nil {
		t.Fatalf("server: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	addr := eng.Addr().String()
	t.Cleanup(func() {
		srv.Close()
		clock.Stop()
	})
	return &testServer{srv: srv, clock: clock, addr: addr, url: "ws://" + addr + cfg.Path}
}

// advance ticks the manual clock n seconds.
func (ts *testServer) advance(n int) {
	for i := 0; i < n; i++ {
		ts.clock.Advance()
	}
}

// rawConn is a WebSocket client on a bare TCP socket, built frame by frame
// with gobwas/ws, for the tests that must send what a library would refuse.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: newReader(c)}
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReaderSize(c, 64<<10) }

const testKey = "dGhlIHNhbXBsZSBub25jZQ=="

func upgradeRequest(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + testKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
}

// upgrade performs the handshake and checks the 101.
func (r *rawConn) upgrade() *rawConn {
	r.t.Helper()
	r.write([]byte(upgradeRequest("/ws")))
	resp := r.readResponse()
	if resp.StatusCode != 101 {
		r.t.Fatalf("upgrade: status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		r.t.Fatalf("Sec-WebSocket-Accept %q", got)
	}
	return r
}

func (r *rawConn) readResponse() *http.Response {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(r.br, nil)
	if err != nil {
		r.t.Fatalf("read response: %v", err)
	}
	return resp
}

func (r *rawConn) write(b []byte) {
	r.t.Helper()
	r.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// frame builds a masked client frame.
func clientFrame(op ws.OpCode, fin bool, p []byte) []byte {
	f := ws.NewFrame(op, fin, append([]byte(nil), p...))
	f = ws.MaskFrameInPlace(f)
	b, err := ws.CompileFrame(f)
	if err != nil {
		panic(err)
	}
	return b
}

func (r *rawConn) send(op ws.OpCode, fin bool, p []byte) { r.write(clientFrame(op, fin, p)) }

func (r *rawConn) sendJSON(v any) {
	b, _ := json.Marshal(v)
	r.send(ws.OpText, true, b)
}

func (r *rawConn) sendMP(v any) {
	b, err := msgpack.Marshal(v)
	if err != nil {
		r.t.Fatal(err)
	}
	r.send(ws.OpBinary, true, b)
}

// next reads one server frame (server frames are never masked).
func (r *rawConn) next() (ws.Header, []byte) {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	h, err := ws.ReadHeader(r.br)
	if err != nil {
		r.t.Fatalf("read header: %v", err)
	}
	if h.Masked {
		r.t.Fatalf("server frame is masked")
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(r.br, p); err != nil {
		r.t.Fatalf("read payload: %v", err)
	}
	return h, p
}

// nextData skips control frames (pings) and returns the next data frame.
func (r *rawConn) nextData() (ws.OpCode, []byte) {
	r.t.Helper()
	for {
		h, p := r.next()
		if h.OpCode == ws.OpPing || h.OpCode == ws.OpPong {
			continue
		}
		return h.OpCode, p
	}
}

// nextJSON decodes the next data frame as a JSON object.
func (r *rawConn) nextJSON() map[string]any {
	r.t.Helper()
	op, p := r.nextData()
	if op != ws.OpText {
		r.t.Fatalf("want text frame, got %v %q", op, p)
	}
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		r.t.Fatalf("bad JSON %q: %v", p, err)
	}
	return m
}

func (r *rawConn) nextMP() map[string]any {
	r.t.Helper()
	op, p := r.nextData()
	if op != ws.OpBinary {
		r.t.Fatalf("want binary frame, got %v %q", op, p)
	}
	var m map[string]any
	if err := msgpack.Unmarshal(p, &m); err != nil {
		r.t.Fatalf("bad msgpack %x: %v", p, err)
	}
	return m
}

// expectClose reads until a close frame and checks its code, then checks the
// server ends the TCP connection once we answer.
func (r *rawConn) expectClose(code ws.StatusCode) {
	r.t.Helper()
	for {
		h, p := r.next()
		if h.OpCode != ws.OpClose {
			continue
		}
		got, reason := ws.ParseCloseFrameData(p)
		if got != code {
			r.t.Fatalf("close code %d (%q), want %d", got, reason, code)
		}
		r.send(ws.OpClose, true, p[:min(2, len(p))])
		r.expectEOF()
		return
	}
}

// expectEOF checks the server closed the TCP connection.
func (r *rawConn) expectEOF() {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	for {
		_, err := r.br.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			r.t.Fatalf("server did not close the connection")
		}
		return
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func jsonOp(op, ch string, id any, data any) map[string]any {
	m := map[string]any{"op": op, "ch": ch}
	if id != nil {
		m["id"] = id
	}
	if data != nil {
		m["data"] = data
	}
	return m
}

func expectKV(t *testing.T, m map[string]any, kv ...any) {
	t.Helper()
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if got, want := fmt.Sprint(m[k]), fmt.Sprint(kv[i+1]); got != want {
			t.Fatalf("%s = %s, want %s (in %v)", k, got, want, m)
		}
	}
}

var _ = strings.Contains
