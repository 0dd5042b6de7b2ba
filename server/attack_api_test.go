package server_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/server"
)

// Hostile backends and peers against the HTTP API on the real server
// (issue 14).

// rawAPI sends raw bytes to the API listener and reads one response.
func rawAPI(t *testing.T, base, raw string) (*http.Response, net.Conn) {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	return resp, c
}

// TestAttackAPIBodyBounds: a body declared at 1 GiB is refused 413 before
// a byte of it is sent; JSON data nested past what converts to MessagePack
// (256 open containers) is 400, through the API and a pub op alike (not a
// 500, not a panic, not a closed connection), while 256 levels publish;
// nothing refused was published.
func TestAttackAPIBodyBounds(t *testing.T) {
	ts := startServer(t, "epoll", opts{})
	base := startAPIBody(t, ts, 64<<10)
	resp, _ := rawAPI(t, base, "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+apiKey+
		"\r\nContent-Length: 1073741824\r\n\r\n")
	if resp.StatusCode != 413 {
		t.Fatalf("1 GiB declared: %d, want 413 at once", resp.StatusCode)
	}
	nested := func(depth int) string {
		return `{"ch":"deep","data":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`
	}
	// JSON converts to MessagePack up to 256 open containers.
	for _, d := range []int{10, 256} {
		if code, m := call(t, "POST", base+"/api/publish", nested(d), auth); code != 200 {
			t.Fatalf("depth %d: %d %v", d, code, m)
		}
	}
	for _, d := range []int{257, 2000, 30000} {
		if code, m := call(t, "POST", base+"/api/publish", nested(d), auth); code != 400 {
			t.Fatalf("depth %d: %d %v, want 400", d, code, m)
		}
	}
	// The same through a pub op.
	c := wstest.Dial(t, ts.addr).Upgrade()
	c.SendText(`{"op":"pub","ch":"deep","id":1,"data":` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + `}`)
	m := c.NextJSON()
	if m["op"] != "err" || (m["code"] != float64(400) && m["code"] != float64(413)) {
		t.Fatalf("deep pub op: %v", m)
	}
	if n := ts.srv.Stats().Publishes; n != 2 {
		t.Fatalf("publishes %d, want only the two within the bound", n)
	}
}

// TestAttackAPISlowHeaders: a peer that opens the API connection and
// trickles a request head never finishing it is cut off by the API
// server's header deadline (5 s, api.Handler.Server), and meanwhile a good
// request on another connection is served.
func TestAttackAPISlowHeaders(t *testing.T) {
	ts := startServer(t, "epoll", opts{})
	base := startAPI(t, ts)
	slow, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	io.WriteString(slow, "POST /api/publish HTTP/1.1\r\nHost: x\r\n")
	start := time.Now()
	if code, m := call(t, "POST", base+"/api/publish", `{"ch":"a","data":1}`, auth); code != 200 {
		t.Fatalf("good request beside a slow one: %d %v", code, m)
	}
	// Keep trickling a header byte every 100 ms; the server must close
	// the connection at its header deadline regardless (bounded: 15 s).
	closed := make(chan error, 1)
	go func() {
		slow.SetReadDeadline(time.Now().Add(15 * time.Second))
		_, err := io.ReadAll(slow)
		closed <- err
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-closed:
			// A close with the trickled bytes unread arrives as a reset:
			// closed all the same. Only the read deadline is a failure.
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("slow header peer not closed by the server within 15 s: %v", err)
			}
			if d := time.Since(start); d < 4*time.Second {
				t.Fatalf("closed after %v, before the 5 s header deadline", d)
			}
			return
		case <-tick.C:
			io.WriteString(slow, "X")
		}
	}
}

// TestAttackDisconnectWhileAuthenticating: POST /api/disconnect racing
// with the user's connections authenticating (auth ops and header tokens,
// 64 connections, 20 disconnect calls). Every connection whose auth ack
// the client had before a disconnect call started is closed by that call
// or an earlier one; the closes the API reports equal the 4403s the
// clients receive; nothing else is closed; no race (run with -race).
func TestAttackDisconnectWhileAuthenticating(t *testing.T) {
	w := newWall()
	ts := startServer(t, "epoll", opts{srv: withTokens(w)})
	base := startAPI(t, ts)
	tok := mint(t, claims(w, "mallory", time.Hour, []string{"*"}, nil))
	other := ts.upgradeWith(t, "/ws", bearer(mint(t, claims(w, "alice", time.Hour, []string{"*"}, nil))))
	const conns = 64
	var acked atomic.Int64 // connections whose auth the client has seen acknowledged
	var reported atomic.Int64
	codes := make(chan ws.StatusCode, conns)
	var wg sync.WaitGroup
	for i := range conns {
		var c *wstest.Conn
		if i%2 == 1 { // half authenticate in the request instead
			c = ts.upgradeWith(t, "/ws", bearer(tok))
		} else {
			c = ts.upgradeWith(t, "/ws")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				c.SendJSON(map[string]any{"op": "auth", "token": tok, "id": 1})
				if _, p := c.NextData(); !strings.Contains(string(p), `"ack"`) {
					t.Errorf("auth: %q", p)
					return
				}
			}
			acked.Add(1)
			codes <- c.NextClose()
		}()
	}
	for k := 0; k < 20 || acked.Load() < conns; k++ {
		before := acked.Load()
		code, m := call(t, "POST", base+"/api/disconnect", `{"user":"mallory"}`, auth)
		if code != 200 {
			t.Fatalf("disconnect: %d %v", code, m)
		}
		reported.Add(int64(m["closed"].(float64)))
		if before == conns {
			break
		}
		if k > 10000 {
			t.Fatal("authentications never finished")
		}
	}
	wg.Wait()
	close(codes)
	n := 0
	for c := range codes {
		if c != 4403 {
			t.Fatalf("close %d, want 4403", c)
		}
		n++
	}
	if n != conns || reported.Load() != conns {
		t.Fatalf("%d closed with 4403, API reported %d, want %d", n, reported.Load(), conns)
	}
	other.SendJSON(jsonOp("sub", "a", 1, nil))
	expectKV(t, other.NextJSON(), "op", "ack", "id", 1)
}

// TestAttackBroadcastFanoutQueue: one broadcast to 10,000 channels, each
// with a subscriber that does not read, on a fan-out queue of one message
// per shard. The API answers 200 with every offset or 429 with the offsets
// of the channels it did publish; either way each subscriber receives
// exactly the publications reported, and the queue never holds more than
// its bound (the hub refuses past it).
func TestAttackBroadcastFanoutQueue(t *testing.T) {
	const chans = 10000
	ts := startServer(t, "epoll", opts{srv: func(c *server.Config) {
		c.MaxMessage = 256 << 10
		c.FanoutQueue = int64(c.MaxMessage)
		c.HistorySize = 0
	}})
	base := startAPIBody(t, ts, 256<<10)
	// 100 subscribers, 100 channels each.
	subs := make([]*wstest.Conn, 100)
	var chs strings.Builder
	for i := range subs {
		subs[i] = wstest.Dial(t, ts.addr).Upgrade()
		var batch []byte
		for k := range chans / len(subs) {
			ch := fmt.Sprintf("b%d.%d", i, k)
			batch = append(batch, wstest.Frame(ws.OpText, true, fmt.Appendf(nil, `{"op":"sub","ch":%q}`, ch))...)
			if chs.Len() > 0 {
				chs.WriteByte(',')
			}
			fmt.Fprintf(&chs, "%q", ch)
		}
		subs[i].Write(batch)
	}
	wstest.WaitFor(t, "10,000 subscriptions", func() bool { ts.srv.Hub().Flush(); return ts.srv.Hub().Stats().Subscriptions == chans })
	data := strings.Repeat("x", 200)
	code, m := call(t, "POST", base+"/api/broadcast", `{"chs":[`+chs.String()+`],"data":"`+data+`"}`, auth)
	if code != 200 && code != 429 {
		t.Fatalf("broadcast: %d %v", code, m)
	}
	offs, _ := m["offs"].([]any)
	if code == 200 && len(offs) != chans {
		t.Fatalf("200 with %d offsets", len(offs))
	}
	t.Logf("broadcast to %d channels: %d, %d published", chans, code, len(offs))
	// Each subscriber gets exactly the publications on its channels that
	// were reported (the first len(offs) channels, in order).
	for i, c := range subs {
		want := 0
		for k := range chans / len(subs) {
			if i*(chans/len(subs))+k < len(offs) {
				want++
			}
		}
		for range want {
			expectKV(t, c.NextJSON(), "op", "msg", "off", 1)
		}
		c.SendJSON(map[string]any{"op": "ping", "id": "end"})
		expectKV(t, c.NextJSON(), "op", "pong", "id", "end")
	}
}
