package frame

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cws "github.com/coder/websocket"
	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"
)

// permessage-deflate over real sockets: the loopback server (serveOne with
// deflate) negotiates with independent clients, inflates what they
// compress, and sends msgs of loopbackCompressMin bytes or more compressed
// while replies stay plain. A tap on the client's socket shows what
// crossed the wire.

const loopbackCompressMin = 256

// extensionOffers returns a request head's Sec-WebSocket-Extensions
// values (the test reads them itself; the server gets them from the
// handshake parser).
func extensionOffers(head []byte) [][]byte {
	var offers [][]byte
	for _, l := range bytes.Split(head, []byte("\r\n"))[1:] {
		if k, v, ok := httphead.ParseHeaderLine(l); ok && equalFold(k, "Sec-WebSocket-Extensions") {
			offers = append(offers, v)
		}
	}
	return offers
}

// acceptDeflate adds the negotiated extension to a 101 response, if any
// offer is acceptable.
func acceptDeflate(resp, head []byte) ([]byte, bool) {
	r, ok := NegotiateDeflate(extensionOffers(head))
	if !ok {
		return resp, false
	}
	resp = append(resp[:len(resp)-2], "Sec-WebSocket-Extensions: "...)
	resp = append(resp, r...)
	return append(resp, "\r\n\r\n"...), true
}

func (e *echoConn) CompressedMessage(text bool, p []byte) {
	plain, f := AppendInflate(e.plain[:0], p, text, 1<<20)
	if f != nil {
		e.out = AppendClose(e.out, f.Code, f.Reason)
		e.bye = true
		return
	}
	e.plain = plain
	e.Message(text, plain)
}

// appendDeflatedMsg appends the JSON msg frame compressed, if it is worth
// it; false leaves the plain frame to the caller.
func (e *echoConn) appendDeflatedMsg(ch []byte, off uint64, data []byte) bool {
	part, ok := AppendDeflatedPart(nil, JSON, data, loopbackCompressMin)
	if !ok {
		return false
	}
	e.out = append(e.out, FinishDeflatedMsg(part, DeflateRoom, JSON, ch, off)...)
	return true
}

// tapConn records both directions of a client's socket.
type tapConn struct {
	net.Conn
	mu      sync.Mutex
	in, out bytes.Buffer
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.in.Write(p[:n])
	c.mu.Unlock()
	return n, err
}

func (c *tapConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.out.Write(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// frames splits a recorded direction into frame headers (after the HTTP
// head), stopping at the first incomplete frame.
func (c *tapConn) frames(t *testing.T, sent bool) []ws.Header {
	t.Helper()
	c.mu.Lock()
	b := c.in.Bytes()
	if sent {
		b = c.out.Bytes()
	}
	b = bytes.Clone(b)
	c.mu.Unlock()
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		t.Fatal("no HTTP head on the wire")
	}
	r := bytes.NewReader(b[i+4:])
	var hs []ws.Header
	for {
		f, err := ws.ReadFrame(r)
		if err != nil {
			return hs
		}
		hs = append(hs, f.Header)
	}
}

func (c *tapConn) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	c.Conn = conn
	return c, err
}

// rsvCounts counts data frames by kind: compressed firsts, plain firsts,
// continuations with RSV1 (never allowed).
func rsvCounts(hs []ws.Header) (compressed, plain, badCont int) {
	for _, h := range hs {
		switch {
		case h.OpCode == ws.OpContinuation && h.Rsv != 0:
			badCont++
		case h.OpCode.IsData() && h.OpCode != ws.OpContinuation && h.Rsv == 4:
			compressed++
		case h.OpCode.IsData() && h.OpCode != ws.OpContinuation:
			plain++
		}
	}
	return
}

// gorillaReader returns a function reading c's next message, which must
// have type wantType.
func gorillaReader(t *testing.T, c *websocket.Conn) func(wantType int) string {
	return func(wantType int) string {
		t.Helper()
		mt, p, err := c.ReadMessage()
		if err != nil || mt != wantType {
			t.Fatalf("read: type %d err %v", mt, err)
		}
		return string(p)
	}
}

func TestLoopbackDeflateGorilla(t *testing.T) {
	addr := listenWith(t, true)
	tap := &tapConn{}
	d := websocket.Dialer{WriteBufferSize: 512, EnableCompression: true, NetDialContext: tap.dial}
	c, resp, err := d.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != resp0 {
		t.Fatalf("negotiated %q", got)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	read := gorillaReader(t, c)
	chat := deflatePayload("chat", 16<<10, JSON) // 16 KB through a 512-byte write buffer: fragmented and compressed
	oddsMP := deflatePayload("odds", 4<<10, MsgPack)
	oddsJSON, err := AppendTranscoded(nil, oddsMP, MsgPack, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	c.WriteMessage(websocket.TextMessage, []byte(`{"op":"pub","ch":"news","id":1,"data":`+string(chat)+`}`))
	if got := read(websocket.TextMessage); got != `{"op":"ack","id":1}` {
		t.Fatalf("ack: %s", got)
	}
	if got := read(websocket.TextMessage); got != `{"op":"msg","ch":"news","off":7,"data":`+string(chat)+`}` {
		t.Fatalf("msg: %.80s...", got)
	}
	c.WriteMessage(websocket.TextMessage, []byte(`{"op":"pub","ch":"small","data":"hi"}`))
	read(websocket.TextMessage) // {"op":"ack"}: the loopback server acks every op
	if got := read(websocket.TextMessage); got != `{"op":"msg","ch":"small","off":7,"data":"hi"}` {
		t.Fatalf("small msg: %s", got)
	}
	c.WriteMessage(websocket.BinaryMessage, mpMap("op", "pub", "ch", "odds", "id", 2, "data", rawMP(oddsMP)))
	read(websocket.BinaryMessage) // the ack, in MessagePack
	if got := read(websocket.TextMessage); got != `{"op":"msg","ch":"odds","off":7,"data":`+string(oddsJSON)+`}` {
		t.Fatalf("converted msg: %.80s...", got)
	}
	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "done"))
	if _, _, err := c.ReadMessage(); err == nil {
		t.Fatal("no close")
	}

	// Server -> client: the two large msgs compressed, the small msg and
	// the three acks plain. Client -> server: gorilla compressed every message,
	// the large ones fragmented with RSV1 on their first frame only.
	if z, p, bad := rsvCounts(tap.frames(t, false)); z != 2 || p != 4 || bad != 0 {
		t.Fatalf("server sent %d compressed, %d plain data messages, %d RSV1 continuations", z, p, bad)
	}
	sent := tap.frames(t, true)
	if z, p, bad := rsvCounts(sent); z != 3 || p != 0 || bad != 0 {
		t.Fatalf("client sent %d compressed, %d plain, %d RSV1 continuations", z, p, bad)
	}
	if sent[0].Fin {
		t.Fatal("the large publish was not fragmented")
	}
}

func TestLoopbackDeflateCoder(t *testing.T) {
	for _, mode := range []cws.CompressionMode{cws.CompressionNoContextTakeover, cws.CompressionContextTakeover} {
		addr := listenWith(t, true)
		tap := &tapConn{}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, resp, err := cws.Dial(ctx, "ws://"+addr+"/ws", &cws.DialOptions{
			CompressionMode: mode,
			HTTPClient:      &http.Client{Transport: &http.Transport{DialContext: tap.dial}},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != resp0 {
			t.Fatalf("mode %v: negotiated %q", mode, got)
		}
		// The same large publish twice: a client keeping its context would
		// refer back into the first, and the server would fail it (1007).
		odds := deflatePayload("odds", 8<<10, JSON)
		for i := range 3 {
			pub := `{"op":"pub","ch":"odds","data":` + string(odds) + `}`
			if err := c.Write(ctx, cws.MessageText, []byte(pub)); err != nil {
				t.Fatal(err)
			}
			if _, p, err := c.Read(ctx); err != nil || string(p) != `{"op":"ack"}` {
				t.Fatalf("mode %v pub %d: ack %q %v", mode, i, p, err)
			}
			_, p, err := c.Read(ctx)
			if err != nil || string(p) != `{"op":"msg","ch":"odds","off":7,"data":`+string(odds)+`}` {
				t.Fatalf("mode %v pub %d: msg %.80q %v", mode, i, p, err)
			}
		}
		c.Close(cws.StatusNormalClosure, "")
		if z, _, bad := rsvCounts(tap.frames(t, false)); z != 3 || bad != 0 {
			t.Fatalf("mode %v: server sent %d compressed messages, %d RSV1 continuations", mode, z, bad)
		}
		if z, _, bad := rsvCounts(tap.frames(t, true)); z != 3 || bad != 0 {
			t.Fatalf("mode %v: client sent %d compressed messages, %d RSV1 continuations", mode, z, bad)
		}
	}
}

const resp0 = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

// rawDeflateConn opens a connection with the browsers' usual offer and
// returns it past the handshake.
func rawDeflateConn(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(goodRequest("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Extensions") != resp0 {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	return c, br
}

// Malformed compressed input from raw frames fails the connection with
// the code RFC 7692 and the bound call for; a good connection beside
// them is unaffected.
func TestLoopbackDeflateMalformed(t *testing.T) {
	addr := listenWith(t, true)
	good, _, err := (&websocket.Dialer{EnableCompression: true}).Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	good.SetReadDeadline(time.Now().Add(10 * time.Second))
	roundTrip := func(id int) {
		t.Helper()
		good.WriteMessage(websocket.TextMessage, []byte(`{"op":"sub","ch":"a","id":`+strconv.Itoa(id)+`}`))
		if _, p, err := good.ReadMessage(); err != nil || !strings.HasPrefix(string(p), `{"op":"ack"`) {
			t.Fatalf("good connection: %q %v", p, err)
		}
	}
	roundTrip(1)

	hello := []byte("\xf2\x48\xcd\xc9\xc9\x07\x00")
	rsv1 := rsv(4)
	for _, c := range []struct {
		name string
		in   []byte
		code ws.StatusCode
	}{
		{"rsv1 on ping", frm(ws.OpPing, true, []byte("p"), rsv1), 1002},
		{"rsv1 on continuation", cat(frm(ws.OpText, false, hello[:3], rsv1), frm(ws.OpContinuation, true, hello[3:], rsv1)), 1002},
		{"rsv2", frm(ws.OpText, true, hello, rsv(2)), 1002},
		{"bad deflate data", frm(ws.OpText, true, []byte{0x06, 0x00}, rsv1), 1007},
		{"invalid utf-8 inside", frm(ws.OpText, true, deflateStd(t, []byte("\xff")), rsv1), 1007},
		{"bomb: 64 MiB from 66 KB", frm(ws.OpBinary, true, zeroBomb(t, 64), rsv1), 1009},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, br := rawDeflateConn(t, addr)
			if _, err := conn.Write(c.in); err != nil {
				t.Fatal(err)
			}
			f, err := ws.ReadFrame(br)
			if err != nil || f.Header.OpCode != ws.OpClose || len(f.Payload) < 2 {
				t.Fatalf("want a close frame, got %+v %v", f.Header, err)
			}
			if code := ws.StatusCode(f.Payload[0])<<8 | ws.StatusCode(f.Payload[1]); code != c.code {
				t.Fatalf("close %d %q, want %d", code, f.Payload[2:], c.code)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("after the close: %v", err)
			}
		})
	}

	// A compressed op from a raw client is served, the reply plain.
	conn, br := rawDeflateConn(t, addr)
	conn.Write(cat(frm(ws.OpText, false, deflateStd(t, []byte(`{"op":"sub","ch":"raw","id":5}`))[:4], rsv1),
		frm(ws.OpContinuation, true, deflateStd(t, []byte(`{"op":"sub","ch":"raw","id":5}`))[4:])))
	f, err := ws.ReadFrame(br)
	if err != nil || f.Header.Rsv != 0 || string(f.Payload) != `{"op":"ack","id":5}` {
		t.Fatalf("compressed op: %+v %q %v", f.Header, f.Payload, err)
	}
	roundTrip(2)
}
