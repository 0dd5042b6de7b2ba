package server_test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/server"
)

// Hostile permessage-deflate clients (issue 12): frames RFC 7692 forbids,
// data that does not inflate, bombs, and a thousand odd offers. Each gets
// its close code or its answer; a compressed subscriber next to them keeps
// receiving.

// goodSubscriber opens a compressed subscriber to ch; check verifies it
// still receives a 1 KiB publish compressed.
func goodSubscriber(t *testing.T, ts *testServer, ch string) (check func()) {
	good, _ := dialDeflate(t, ts.addr, "permessage-deflate; client_max_window_bits")
	good.SendJSON(jsonOp("sub", ch, 1, nil))
	expectKV(t, good.NextJSON(), "op", "ack")
	seq := uint64(0)
	return func() {
		t.Helper()
		seq++
		data := server.ChatData(1<<10, seq)
		pub := wstest.Dial(t, ts.addr).Upgrade()
		pub.SendJSON(jsonOp("pub", ch, nil, json.RawMessage(data)))
		compressed, m := nextJSONMsg(t, good)
		if !compressed {
			t.Fatal("the good subscriber got a plain msg")
		}
		if b, _ := json.Marshal(m["data"]); !jsonEqual(b, data) {
			t.Fatal("the good subscriber got other data")
		}
	}
}

// bomb is count copies of one compressed MiB of zeros (each a sync-flushed,
// byte-aligned run of deflate blocks, so copies chain into one stream),
// without the final 00 00 ff ff: 1 KiB that inflates to 1 MiB per copy.
func bomb(t testing.TB, count int) []byte {
	t.Helper()
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	w.Write(make([]byte, 1<<20))
	w.Flush()
	one := b.Bytes()
	return bytes.Repeat(one, count)[:count*len(one)-4]
}

func TestDeflateMalformed(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{})
		check := goodSubscriber(t, ts, "safe")
		text := []byte(`{"op":"ping","id":1}`)
		z := deflateStd(t, text)
		kib := bomb(t, 1)
		t.Logf("bomb: %d B compressed -> 1 MiB", len(kib))
		for _, c := range []struct {
			name   string
			frames [][]byte
			code   ws.StatusCode
			reason string // if set, the close frame's reason
		}{
			{"rsv1 on ping", [][]byte{clientFrame(ws.OpPing, true, true, []byte("x"))}, ws.StatusProtocolError, ""},
			{"rsv1 on close", [][]byte{clientFrame(ws.OpClose, true, true, []byte{3, 232})}, ws.StatusProtocolError, ""},
			{"rsv1 on continuation", [][]byte{clientFrame(ws.OpText, false, true, z[:3]), clientFrame(ws.OpContinuation, true, true, z[3:])}, ws.StatusProtocolError, ""},
			{"rsv2", [][]byte{func() []byte { f := clientFrame(ws.OpText, true, false, text); f[0] |= 0x20; return f }()}, ws.StatusProtocolError, ""},
			{"bad deflate data", [][]byte{clientFrame(ws.OpText, true, true, []byte{0xff, 0xff, 0xff, 0xff})}, ws.StatusInvalidFramePayloadData, "invalid deflate data"},
			{"truncated deflate data", [][]byte{clientFrame(ws.OpText, true, true, z[:len(z)/2])}, ws.StatusInvalidFramePayloadData, "invalid deflate data"},
			{"invalid utf-8 inside", [][]byte{clientFrame(ws.OpText, true, true, deflateStd(t, []byte("\xff\xfe")))}, ws.StatusInvalidFramePayloadData, "invalid utf-8"},
			{"1 KiB bomb (1 MiB out, -max-message 64 KiB)", [][]byte{clientFrame(ws.OpBinary, true, true, kib)}, ws.StatusMessageTooBig, ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				cl, ext := dialDeflate(t, ts.addr, "permessage-deflate")
				if ext != agreed {
					t.Fatalf("answered %q", ext)
				}
				for _, f := range c.frames {
					cl.Write(f)
				}
				if c.reason != "" {
					h, p := cl.Next()
					if code, reason := ws.ParseCloseFrameData(p); h.OpCode != ws.OpClose || code != c.code || reason != c.reason {
						t.Fatalf("got %v %d %q, want close %d %q", h.OpCode, code, reason, c.code, c.reason)
					}
					cl.Send(ws.OpClose, true, p[:2])
					cl.ExpectEOF()
					return
				}
				cl.ExpectClose(c.code)
			})
		}
		// A compressed message fragmented over three frames (RSV1 on the
		// first only) is fine.
		cl, _ := dialDeflate(t, ts.addr, "permessage-deflate")
		cl.Write(clientFrame(ws.OpText, false, true, z[:2]))
		cl.Write(clientFrame(ws.OpContinuation, false, false, z[2:5]))
		cl.Write(clientFrame(ws.OpContinuation, true, false, z[5:]))
		expectKV(t, cl.NextJSON(), "op", "pong", "id", 1)
		check()
		if p := ts.srv.Stats().Panics; p != 0 {
			t.Fatalf("%d panics", p)
		}
	})
}

// A bomb of 1 MiB that inflates to 1 GiB, on a server whose -max-message
// (2 MiB) admits the compressed frame: closed with 1009 once 2 MiB are
// out, and the server allocates a few times -max-message while it reads
// and inflates the bomb, never anything like the gigabyte. At the default
// -max-message the same frame is refused before inflating (1009 as
// message too big).
func TestDeflateBomb(t *testing.T) {
	const limit = 2 << 20
	gib := bomb(t, 1024)
	frame := clientFrame(ws.OpBinary, true, true, gib)
	t.Logf("bomb: %d B compressed -> 1 GiB", len(gib))
	ts := startServer(t, "epoll", opts{srv: func(c *server.Config) { c.MaxMessage = limit }})
	check := goodSubscriber(t, ts, "safe")
	cl, _ := dialDeflate(t, ts.addr, "permessage-deflate")
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	cl.Write(frame)
	cl.ExpectClose(ws.StatusMessageTooBig)
	runtime.ReadMemStats(&m1)
	alloc := m1.TotalAlloc - m0.TotalAlloc
	t.Logf("allocated %d KiB while reading, inflating and refusing the bomb (-max-message %d KiB)", alloc>>10, limit>>10)
	if alloc > 8*limit {
		t.Fatalf("allocated %d bytes for a bomb at -max-message %d: more than 8x the bound", alloc, limit)
	}
	check()

	ts2 := startServer(t, "epoll", opts{})
	cl2, _ := dialDeflate(t, ts2.addr, "permessage-deflate")
	cl2.Write(frame)
	cl2.ExpectClose(ws.StatusMessageTooBig)
}

// oddOffers are Sec-WebSocket-Extensions values (one header each) and the
// answer they must get: an element, "" (declined: served plain), or
// "400" (refused: more than frame.MaxHeaderValues headers).
var oddOffers = []struct {
	headers []string
	want    string
}{
	{[]string{"permessage-deflate; client_max_window_bits"}, agreed},
	{[]string{"permessage-deflate"}, agreed},
	{[]string{"permessage-deflate; server_max_window_bits=15"}, agreed + "; server_max_window_bits=15"},
	{[]string{"permessage-deflate; server_max_window_bits=10"}, ""}, // cannot honour: declined
	{[]string{"permessage-deflate; server_max_window_bits=8; client_max_window_bits"}, ""},
	{[]string{"permessage-deflate; server_max_window_bits"}, ""},
	{[]string{"permessage-deflate; client_max_window_bits=8"}, agreed},
	{[]string{"permessage-deflate; client_max_window_bits=16"}, ""},
	{[]string{"permessage-deflate; client_max_window_bits=015"}, ""},
	{[]string{`permessage-deflate; client_max_window_bits="10"`}, agreed},
	{[]string{"permessage-deflate; server_no_context_takeover=1"}, ""},
	{[]string{"permessage-deflate; client_no_context_takeover; client_no_context_takeover"}, ""},
	{[]string{"permessage-deflate; x-unknown"}, ""},
	{[]string{"x-webkit-deflate-frame"}, ""},
	{[]string{"permessage-deflate; server_max_window_bits=9, permessage-deflate; client_max_window_bits"}, agreed},
	{[]string{"permessage-deflate;;"}, ""},
	{[]string{"permessage-deflate; client_max_window_bits=\"10"}, ""},
	{[]string{"permessage-deflate, , foo; bar=baz"}, agreed},
	{[]string{strings.Repeat("foo; a=b, ", 300) + "permessage-deflate"}, agreed},
	{[]string{"foo", "permessage-deflate; server_max_window_bits=12", "permessage-deflate; client_max_window_bits"}, agreed},
	{[]string{"a", "b", "c", "d", "e", "f", "g", "h", "permessage-deflate"}, "400"},
}

// A thousand clients at once, each with an odd offer: each gets exactly
// the answer its offer calls for, then works compressed or plain as
// negotiated (a ping op sent compressed or plain, answered), and a
// compressed subscriber alongside is unaffected. A client whose server
// window cannot be honoured is served plain, and compressing anyway is a
// protocol error (1002).
func TestDeflateOddOffers(t *testing.T) {
	ts := startServer(t, "epoll", opts{})
	check := goodSubscriber(t, ts, "safe")
	const clients = 1000
	var wg sync.WaitGroup
	conns := make(chan net.Conn, clients)
	errs := make(chan error, clients)
	next := make(chan int, clients)
	for i := range clients {
		next <- i
	}
	close(next)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := oddClient(ts.addr, i)
				if c != nil {
					conns <- c
				}
				if err != nil {
					errs <- fmt.Errorf("client %d (offer %q): %w", i, oddOffers[i%len(oddOffers)].headers, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(conns)
	for err := range errs {
		t.Error(err)
	}
	wantOpen := int64(1) // the good subscriber
	for i := range clients {
		if oddOffers[i%len(oddOffers)].want != "400" {
			wantOpen++
		}
	}
	if open := ts.srv.Open(); open != wantOpen {
		t.Errorf("%d open, want %d", open, wantOpen)
	}
	check()
	if p := ts.srv.Stats().Panics; p != 0 {
		t.Fatalf("%d panics", p)
	}
	for c := range conns {
		c.Close()
	}

	// The window it cannot honour, then compressing anyway.
	c, ext := dialDeflate(t, ts.addr, "permessage-deflate; server_max_window_bits=10")
	if ext != "" {
		t.Fatalf("server_max_window_bits=10 answered %q", ext)
	}
	c.SendJSON(jsonOp("sub", "safe", 1, nil))
	expectKV(t, c.NextJSON(), "op", "ack")
	check()
	if compressed, _ := nextPlain(t, c); compressed {
		t.Fatal("a client that was declined got a compressed msg")
	}
	sendCompressed(t, c, ws.OpText, []byte(`{"op":"ping"}`))
	c.ExpectClose(ws.StatusProtocolError)
}

// oddClient upgrades with offer i, checks the answer, and sends a ping op
// (compressed if negotiated) that must be answered. It returns the open
// connection (nil if refused as it should be).
func oddClient(addr string, i int) (net.Conn, error) {
	o := oddOffers[i%len(oddOffers)]
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, deflateRequest(o.headers...)); err != nil {
		return c, err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return c, err
	}
	if o.want == "400" {
		if resp.StatusCode != 400 {
			return c, fmt.Errorf("status %d, want 400", resp.StatusCode)
		}
		c.Close()
		return nil, nil
	}
	if resp.StatusCode != 101 {
		return c, fmt.Errorf("status %d", resp.StatusCode)
	}
	if got := resp.Header.Values("Sec-WebSocket-Extensions"); len(got) > 1 || resp.Header.Get("Sec-WebSocket-Extensions") != o.want {
		return c, fmt.Errorf("answered %q, want %q", got, o.want)
	}
	ping := []byte(fmt.Sprintf(`{"op":"ping","id":%d}`, i))
	if o.want != "" {
		var b bytes.Buffer
		w, _ := flate.NewWriter(&b, flate.DefaultCompression)
		w.Write(ping)
		w.Flush()
		_, err = c.Write(clientFrame(ws.OpText, true, true, b.Bytes()[:b.Len()-4]))
	} else {
		_, err = c.Write(clientFrame(ws.OpText, true, false, ping))
	}
	if err != nil {
		return c, err
	}
	h, err := ws.ReadHeader(br)
	if err != nil {
		return c, err
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(br, p); err != nil {
		return c, err
	}
	if h.Rsv != 0 || string(p) != fmt.Sprintf(`{"op":"pong","id":%d}`, i) {
		return c, fmt.Errorf("answer %q (rsv %d)", p, h.Rsv)
	}
	return c, nil
}
