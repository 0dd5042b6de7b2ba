// Package wstest is test support shared by the server and metrics tests: a
// WebSocket client on a bare TCP socket that builds frames one by one
// (internal/wsframe, the framer the bench clients use too), so tests can send
// exactly what a library would refuse, and reads the server's frames with
// gobwas/ws as a stream; plus the list of engines every integration test
// runs over.
//
// It is internal and imported only by _test files; it must never be used by
// the server itself.
package wstest

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/starling-ws/starling/internal/wsframe"
)

// Engines are the poller engines every integration test runs over.
var Engines = []string{"epoll", "netpoll"}

// EachEngine runs f as a subtest per engine: both engines pass one suite.
func EachEngine(t *testing.T, f func(t *testing.T, engine string)) {
	for _, e := range Engines {
		t.Run(e, func(t *testing.T) { f(t, e) })
	}
}

// WaitFor polls cond for up to 10 s.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestKey is RFC 6455's sample key; its accept value is AcceptKey.
const (
	TestKey   = "dGhlIHNhbXBsZSBub25jZQ=="
	AcceptKey = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// UpgradeRequest is a valid upgrade request for path.
func UpgradeRequest(path string) string { return UpgradeRequestVersion(path, "13") }

// UpgradeRequestVersion is an upgrade request with the given
// Sec-WebSocket-Version.
func UpgradeRequestVersion(path, version string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + TestKey + "\r\nSec-WebSocket-Version: " + version + "\r\n\r\n"
}

// Frame builds a masked client frame.
func Frame(op ws.OpCode, fin bool, p []byte) []byte { return wsframe.AppendClient(nil, op, fin, p) }

// Conn is the raw client. Every read and write has a deadline: Timeout,
// or 5 s when it is zero.
type Conn struct {
	T       testing.TB
	C       net.Conn
	BR      *bufio.Reader
	Timeout time.Duration
	// Sent counts the bytes written, so a test can wait until the server
	// has read them all.
	Sent atomic.Int64
}

func (r *Conn) deadline() time.Time {
	if r.Timeout > 0 {
		return time.Now().Add(r.Timeout)
	}
	return time.Now().Add(5 * time.Second)
}

// Dial connects to addr; the socket is closed when the test ends.
func Dial(t testing.TB, addr string) *Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return Wrap(t, c)
}

// Wrap makes a Conn of a socket dialled by the test itself.
func Wrap(t testing.TB, c net.Conn) *Conn {
	t.Cleanup(func() { c.Close() })
	return &Conn{T: t, C: c, BR: bufio.NewReaderSize(c, 64<<10)}
}

// Upgrade performs the handshake and checks the 101 and its accept key.
func (r *Conn) Upgrade() *Conn {
	r.T.Helper()
	r.Write([]byte(UpgradeRequest("/ws")))
	resp := r.ReadResponse()
	if resp.StatusCode != 101 {
		r.T.Fatalf("upgrade: status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != AcceptKey {
		r.T.Fatalf("Sec-WebSocket-Accept %q", got)
	}
	return r
}

// Request sends an upgrade request and returns the response status.
func (r *Conn) Request(path, version string) int {
	r.T.Helper()
	r.Write([]byte(UpgradeRequestVersion(path, version)))
	resp := r.ReadResponse()
	resp.Body.Close()
	return resp.StatusCode
}

// ReadResponse reads an HTTP response head.
func (r *Conn) ReadResponse() *http.Response {
	r.T.Helper()
	r.C.SetReadDeadline(r.deadline())
	resp, err := http.ReadResponse(r.BR, nil)
	if err != nil {
		r.T.Fatalf("read response: %v", err)
	}
	return resp
}

// Write sends raw bytes.
func (r *Conn) Write(b []byte) {
	r.T.Helper()
	r.C.SetWriteDeadline(r.deadline())
	n, err := r.C.Write(b)
	r.Sent.Add(int64(n))
	if err != nil {
		r.T.Fatalf("write: %v", err)
	}
}

// Send writes one masked frame.
func (r *Conn) Send(op ws.OpCode, fin bool, p []byte) { r.Write(Frame(op, fin, p)) }

// SendText sends a text message.
func (r *Conn) SendText(s string) { r.Send(ws.OpText, true, []byte(s)) }

// SendJSON sends v as a JSON text message.
func (r *Conn) SendJSON(v any) {
	b, _ := json.Marshal(v)
	r.Send(ws.OpText, true, b)
}

// SendMP sends v as a MessagePack binary message.
func (r *Conn) SendMP(v any) {
	b, err := msgpack.Marshal(v)
	if err != nil {
		r.T.Fatal(err)
	}
	r.Send(ws.OpBinary, true, b)
}

// Next reads one server frame (server frames are never masked).
func (r *Conn) Next() (ws.Header, []byte) {
	r.T.Helper()
	r.C.SetReadDeadline(r.deadline())
	h, err := ws.ReadHeader(r.BR)
	if err != nil {
		r.T.Fatalf("read header: %v", err)
	}
	if h.Masked {
		r.T.Fatalf("server frame is masked")
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(r.BR, p); err != nil {
		r.T.Fatalf("read payload: %v", err)
	}
	return h, p
}

// NextData skips pings and pongs and returns the next data frame; a close
// frame instead fails the test.
func (r *Conn) NextData() (ws.OpCode, []byte) {
	r.T.Helper()
	h, p := r.NextDataFrame()
	return h.OpCode, p
}

// NextDataFrame is NextData with the frame's header (its RSV bits say
// whether a permessage-deflate message is compressed).
func (r *Conn) NextDataFrame() (ws.Header, []byte) {
	r.T.Helper()
	for {
		h, p := r.Next()
		switch h.OpCode {
		case ws.OpPing, ws.OpPong:
			continue
		case ws.OpClose:
			code, reason := ws.ParseCloseFrameData(p)
			r.T.Fatalf("unexpected close %d %q", code, reason)
		}
		return h, p
	}
}

// NextJSON decodes the next data frame, which must be text, as an object.
func (r *Conn) NextJSON() map[string]any {
	r.T.Helper()
	op, p := r.NextData()
	if op != ws.OpText {
		r.T.Fatalf("want text frame, got %v %q", op, p)
	}
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		r.T.Fatalf("bad JSON %q: %v", p, err)
	}
	return m
}

// NextMP decodes the next data frame, which must be binary, as a map.
func (r *Conn) NextMP() map[string]any {
	r.T.Helper()
	op, p := r.NextData()
	if op != ws.OpBinary {
		r.T.Fatalf("want binary frame, got %v %q", op, p)
	}
	var m map[string]any
	if err := msgpack.Unmarshal(p, &m); err != nil {
		r.T.Fatalf("bad msgpack %x: %v", p, err)
	}
	return m
}

// NextClose reads until a close frame and returns its code.
func (r *Conn) NextClose() ws.StatusCode {
	r.T.Helper()
	for {
		h, p := r.Next()
		if h.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(p)
			return code
		}
	}
}

// ExpectClose reads until a close frame, checks its code, answers it and
// checks that the server then ends the TCP connection.
func (r *Conn) ExpectClose(code ws.StatusCode) {
	r.T.Helper()
	for {
		h, p := r.Next()
		if h.OpCode != ws.OpClose {
			continue
		}
		got, reason := ws.ParseCloseFrameData(p)
		if got != code {
			r.T.Fatalf("close code %d (%q), want %d", got, reason, code)
		}
		r.Send(ws.OpClose, true, p[:min(2, len(p))])
		r.ExpectEOF()
		return
	}
}

// ExpectEOF checks the server ended the TCP connection.
func (r *Conn) ExpectEOF() {
	r.T.Helper()
	r.C.SetReadDeadline(r.deadline())
	buf := make([]byte, 512)
	for {
		_, err := r.BR.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			r.T.Fatalf("server did not close the connection")
		}
		return
	}
}
