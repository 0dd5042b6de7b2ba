package frame

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	cws "github.com/coder/websocket"
	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"
)

// echoConn is a minimal server over this package: handshake, decode,
// answer ops. It is the data path in miniature, over a real socket.
// With deflate negotiated it inflates compressed messages and compresses
// msgs (never replies), as loopback_deflate_test.go describes.
type echoConn struct {
	t       *testing.T
	c       net.Conn
	out     []byte
	bye     bool
	deflate bool
	plain   []byte // inflated message (reused)
}

func (e *echoConn) Message(text bool, p []byte) {
	enc := MsgPack
	if text {
		enc = JSON
	}
	var op Op
	if oe := DecodeOp(p, enc, &op); oe != nil {
		e.out = AppendErr(e.out, enc, oe.ID, oe.Code, oe.Msg)
		return
	}
	e.out = AppendAck(e.out, enc, op.ID)
	if op.Kind == OpPub {
		// Send the publish back in JSON whatever it came in.
		data, err := AppendTranscoded(nil, op.Data, enc, 1<<20)
		if enc == JSON {
			data, err = op.Data, nil
		}
		if err == nil && e.deflate && e.appendDeflatedMsg(op.Ch, 7, data) {
			return
		}
		if err == nil {
			e.out, err = AppendMsg(e.out, JSON, op.Ch, 7, data)
		}
		if err != nil {
			e.out = AppendErr(e.out, enc, op.ID, 400, err.Error())
		}
	}
}
func (e *echoConn) Ping(p []byte) { e.out = AppendPong(e.out, p) }
func (e *echoConn) Pong([]byte)   {}
func (e *echoConn) Close(code ws.StatusCode, _ []byte) {
	e.out = AppendClose(e.out, code, "")
	e.bye = true
}

func serveOne(t *testing.T, c net.Conn, deflate bool) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 0, MaxRequest)
	rd := make([]byte, 4096)
	var rest []byte
	for {
		n, err := c.Read(rd)
		if err != nil {
			return
		}
		buf = append(buf, rd[:n]...)
		var u Upgrade
		hn, rej := ParseUpgrade(buf, "/ws", &u)
		if rej != nil {
			c.Write(AppendReject(nil, rej))
			return
		}
		if hn > 0 {
			resp := AppendAccept(nil, u.Key)
			if deflate {
				resp, deflate = acceptDeflate(resp, buf[:hn])
			}
			c.Write(resp)
			rest = buf[hn:]
			break
		}
	}
	e := &echoConn{t: t, c: c, deflate: deflate}
	var d Decoder
	if deflate {
		d.EnableDeflate()
	}
	defer d.Release()
	for {
		if f := d.Feed(rest, 1<<20, e); f != nil {
			c.Write(AppendClose(e.out, f.Code, f.Reason))
			return
		}
		if len(e.out) > 0 {
			if _, err := c.Write(e.out); err != nil {
				return
			}
			e.out = e.out[:0]
		}
		if e.bye {
			return
		}
		n, err := c.Read(rd)
		if err != nil {
			return
		}
		rest = rd[:n]
	}
}

func listen(t *testing.T) string { return listenWith(t, false) }

// listenWith serves connections with serveOne; deflate: negotiate
// permessage-deflate when offered.
func listenWith(t *testing.T, deflate bool) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveOne(t, c, deflate)
		}
	}()
	return ln.Addr().String()
}

func TestLoopbackGorilla(t *testing.T) {
	addr := listen(t)
	if _, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/nope", nil); err == nil || resp == nil || resp.StatusCode != 404 {
		t.Fatalf("wrong path: err %v resp %v", err, resp)
	}
	d := websocket.Dialer{WriteBufferSize: 512, EnableCompression: true} // small buffer: long messages go out fragmented
	c, _, err := d.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	read := gorillaReader(t, c)

	c.WriteMessage(websocket.TextMessage, []byte(`{"op":"sub","ch":"news","id":1}`))
	if got := read(websocket.TextMessage); got != `{"op":"ack","id":1}` {
		t.Fatalf("ack: %s", got)
	}
	long := strings.Repeat("é", 5000) // 10 KB through a 512-byte write buffer
	data, _ := json.Marshal(long)
	c.WriteMessage(websocket.TextMessage, []byte(`{"op":"pub","ch":"news","data":`+string(data)+`}`))
	read(websocket.TextMessage)
	if got := read(websocket.TextMessage); got != `{"op":"msg","ch":"news","off":7,"data":`+string(data)+`}` {
		t.Fatalf("msg: %.80s...", got)
	}
	c.WriteMessage(websocket.BinaryMessage, mpMap("op", "pub", "ch", "b", "data", []byte{1, 2}))
	read(websocket.BinaryMessage)
	if got := read(websocket.TextMessage); got != `{"op":"msg","ch":"b","off":7,"data":"AQI="}` {
		t.Fatalf("converted msg: %s", got)
	}
	c.WriteMessage(websocket.TextMessage, []byte(`{"op":"sub","ch":"bad name"}`))
	if got := read(websocket.TextMessage); got != `{"op":"err","code":422,"msg":"invalid channel name"}` {
		t.Fatalf("err: %s", got)
	}
	pong := make(chan string, 1)
	c.SetPongHandler(func(s string) error { pong <- s; return nil })
	c.WriteControl(websocket.PingMessage, []byte("hb"), time.Now().Add(time.Second))
	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "done"))
	_, _, err = c.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 4000 {
		t.Fatalf("close echo: %v", err)
	}
	if got := <-pong; got != "hb" {
		t.Fatalf("pong %q", got)
	}
}

func TestLoopbackCoder(t *testing.T) {
	addr := listen(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := cws.Dial(ctx, "ws://"+addr+"/ws?x=1", nil) // checks Sec-WebSocket-Accept
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, cws.MessageBinary, mpMap("op", "unsub", "ch", "z", "id", "k")); err != nil {
		t.Fatal(err)
	}
	mt, p, err := c.Read(ctx)
	if err != nil || mt != cws.MessageBinary || !bytes.Equal(p, mpMap("op", "ack", "id", "k")) {
		t.Fatalf("ack: %v %x %v", mt, p, err)
	}
	// Invalid UTF-8 in a text message: the server fails the connection with 1007.
	c.Write(ctx, cws.MessageText, []byte("\xff"))
	_, _, err = c.Read(ctx)
	if cws.CloseStatus(err) != cws.StatusInvalidFramePayloadData {
		t.Fatalf("want 1007, got %v", err)
	}
}
