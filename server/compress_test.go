package server_test

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/server"
)

// permessage-deflate end to end over real sockets (issue 12): an
// independent library (gorilla/websocket with EnableCompression) and raw
// clients that offer what browsers offer, next to plain clients on the
// same channel.

// gorilla negotiates, publishes compressed, and receives a large msg
// compressed (RSV1 on the wire, inflating to the published data) while its
// acks stay plain; a plain subscriber gets the same msg plain, a
// compressed MessagePack subscriber compressed; a small msg goes plain to
// everyone. One compression per encoding per publish.
func TestDeflateGorilla(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{})
		var tap *tapConn
		d := websocket.Dialer{EnableCompression: true, NetDial: func(network, addr string) (net.Conn, error) {
			c, err := net.Dial(network, addr)
			tap = &tapConn{Conn: c}
			return tap, err
		}}
		g, resp, err := d.Dial(ts.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != agreed {
			t.Fatalf("gorilla's offer answered %q", ext)
		}
		must(t, g.WriteJSON(jsonOp("sub", "room", 1, nil)))
		var m map[string]any
		must(t, g.ReadJSON(&m))
		expectKV(t, m, "op", "ack", "id", 1)

		plain := wstest.Dial(t, ts.addr).Upgrade()
		plain.SendJSON(jsonOp("sub", "room", 1, nil))
		expectKV(t, plain.NextJSON(), "op", "ack")
		mp, ext := dialDeflate(t, ts.addr, "permessage-deflate; client_max_window_bits")
		if ext != agreed {
			t.Fatalf("the browser offer answered %q", ext)
		}
		mp.SendMP(map[string]any{"op": "sub", "ch": "room", "id": 1})
		if c, p := nextPlain(t, mp); c {
			t.Fatalf("the ack came compressed: %q", p)
		}

		big := server.ChatData(1<<10, 1)
		before := ts.srv.Stats()
		must(t, g.WriteJSON(map[string]any{"op": "pub", "ch": "room", "id": 2, "data": json.RawMessage(big)}))
		var got [2]map[string]any // the pub's ack and the msg, in either order (loop and worker write them)
		must(t, g.ReadJSON(&got[0]))
		must(t, g.ReadJSON(&got[1]))
		msgAt := 1 // among the frames gorilla read, after the sub's ack
		if got[0]["op"] != "msg" {
			got[0], got[1] = got[1], got[0]
			msgAt = 2
		}
		expectKV(t, got[0], "op", "msg", "ch", "room", "off", 1)
		expectKV(t, got[1], "op", "ack", "id", 2, "off", 1)
		if b, _ := json.Marshal(got[0]["data"]); !jsonEqual(b, big) {
			t.Fatalf("gorilla got other data")
		}
		_, m = nextJSONMsg(t, plain)
		expectKV(t, m, "op", "msg", "off", 1)
		c, p := nextPlain(t, mp)
		var mm map[string]any
		must(t, msgpack.Unmarshal(p, &mm))
		if !c {
			t.Fatal("the compressed MessagePack subscriber got the 1 KiB msg plain")
		}
		expectKV(t, mm, "op", "msg", "off", 1)

		rsv, ops := tap.frames()
		if len(rsv) != 3 || rsv[0] != 0 || ops[0] != ws.OpText {
			t.Fatalf("gorilla read frames rsv %v ops %v, want the sub ack plain first", rsv, ops)
		}
		for i := 1; i < 3; i++ {
			if compressed := rsv[i] == 4; compressed != (i == msgAt) {
				t.Fatalf("frame %d (rsv %d): only the msg may be compressed (rsv %v)", i, rsv[i], rsv)
			}
		}
		after := ts.srv.Stats()
		if n := after.Compressions - before.Compressions; n != 2 {
			t.Fatalf("%d compressions for one publish to compressed JSON and MessagePack subscribers, want 2", n)
		}
		if after.Inflations == before.Inflations {
			t.Fatal("gorilla's compressed pub was not inflated by the server (did gorilla compress it?)")
		}
		if after.DeflateNegotiated < 2 {
			t.Fatalf("%d negotiated", after.DeflateNegotiated)
		}

		// Small: under -compress-min, plain for everyone, nothing compressed.
		must(t, g.WriteJSON(jsonOp("pub", "room", nil, "small")))
		must(t, g.ReadJSON(&m))
		expectKV(t, m, "op", "msg", "off", 2, "data", "small")
		if c, _ := nextPlain(t, mp); c {
			t.Fatal("a 7-byte msg came compressed")
		}
		if rsv, _ := tap.frames(); len(rsv) != 4 || rsv[3] != 0 {
			t.Fatalf("the small msg to gorilla: rsv %v", rsv)
		}
		if s := ts.srv.Stats(); s.Compressions != after.Compressions || s.CompressDeclined < after.CompressDeclined+2 {
			t.Fatalf("small publish: compressions %d -> %d, declined %d -> %d", after.Compressions, s.Compressions, after.CompressDeclined, s.CompressDeclined)
		}
	})
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}

// Exactly one compression per publish per encoding, however many
// compressed subscribers: 30 compressed JSON, 30 compressed MessagePack
// and 10 plain subscribers, three 1 KiB publishes, 6 compressions; every
// compressed subscriber gets an RSV1 frame that inflates to what the plain
// ones get.
func TestDeflateOncePerEncoding(t *testing.T) {
	ts := startServer(t, "epoll", opts{})
	var cj, cm, pj []*wstest.Conn
	for range 30 {
		c, _ := dialDeflate(t, ts.addr, "permessage-deflate; client_max_window_bits")
		c.SendJSON(jsonOp("sub", "wide", 1, nil))
		cj = append(cj, c)
		c, _ = dialDeflate(t, ts.addr, "permessage-deflate")
		c.SendMP(map[string]any{"op": "sub", "ch": "wide", "id": 1})
		cm = append(cm, c)
	}
	for range 10 {
		c := wstest.Dial(t, ts.addr).Upgrade()
		c.SendJSON(jsonOp("sub", "wide", 1, nil))
		pj = append(pj, c)
	}
	for _, c := range append(append(append([]*wstest.Conn{}, cj...), cm...), pj...) {
		if compressed, _ := nextPlain(t, c); compressed {
			t.Fatal("an ack came compressed")
		}
	}
	before := ts.srv.Stats().Compressions
	pub := wstest.Dial(t, ts.addr).Upgrade()
	for i := range 3 {
		pub.SendJSON(jsonOp("pub", "wide", nil, json.RawMessage(server.ChatData(1<<10, uint64(i)))))
	}
	for i := 1; i <= 3; i++ {
		_, want := nextPlain(t, pj[0])
		for _, c := range pj[1:] {
			if _, p := nextPlain(t, c); !bytes.Equal(p, want) {
				t.Fatalf("plain subscribers differ on msg %d", i)
			}
		}
		for _, c := range cj {
			compressed, p := nextPlain(t, c)
			if !compressed || !bytes.Equal(p, want) {
				t.Fatalf("compressed JSON subscriber, msg %d: compressed %v, equal %v", i, compressed, bytes.Equal(p, want))
			}
		}
		var wantMP map[string]any
		for k, c := range cm {
			compressed, p := nextPlain(t, c)
			var m map[string]any
			must(t, msgpack.Unmarshal(p, &m))
			if !compressed || m["off"] != uint64(i) && m["off"] != int8(i) {
				t.Fatalf("compressed MessagePack subscriber, msg %d: compressed %v, %v", i, compressed, m["off"])
			}
			if k == 0 {
				wantMP = m
			} else if !jsonEqual(mustJSON(t, m), mustJSON(t, wantMP)) {
				t.Fatal("compressed MessagePack subscribers differ")
			}
		}
	}
	if n := ts.srv.Stats().Compressions - before; n != 6 {
		t.Fatalf("%d compressions for 3 publishes in 2 encodings, want 6", n)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	return b
}

// With -compress off every offer is ignored: no extension in the 101,
// msgs plain, and a client that compresses anyway fails with 1002.
func TestDeflateOff(t *testing.T) {
	ts := startServer(t, "epoll", opts{srv: func(c *server.Config) { c.Compress = false }})
	c, ext := dialDeflate(t, ts.addr, "permessage-deflate; client_max_window_bits")
	if ext != "" {
		t.Fatalf("-compress off answered %q", ext)
	}
	c.SendJSON(jsonOp("sub", "off", 1, nil))
	expectKV(t, c.NextJSON(), "op", "ack")
	pub := wstest.Dial(t, ts.addr).Upgrade()
	pub.SendJSON(jsonOp("pub", "off", nil, json.RawMessage(server.ChatData(2<<10, 3))))
	if compressed, _ := nextPlain(t, c); compressed {
		t.Fatal("compressed with -compress off")
	}
	sendCompressed(t, c, ws.OpText, []byte(`{"op":"ping"}`))
	c.ExpectClose(ws.StatusProtocolError)
	if s := ts.srv.Stats(); s.DeflateNegotiated != 0 || s.Compressions != 0 {
		t.Fatalf("-compress off: %d negotiated, %d compressions", s.DeflateNegotiated, s.Compressions)
	}
}

// deflateStatus reads the 101 (or refusal) for a request with exts.
func deflateStatus(t *testing.T, addr string, ext ...string) (*wstest.Conn, *http.Response) {
	t.Helper()
	c := wstest.Dial(t, addr)
	c.Timeout = 20 * time.Second
	c.Write([]byte(deflateRequest(ext...)))
	return c, c.ReadResponse()
}

// Compressed messages live under the same rules as plain ones: a
// compressed message left unfinished is closed at -fragment-timeout
// (1008), and compressed pubs count against -max-publish-rate (err 429
// past it, the next tick refills).
func TestDeflateDeadlineAndRate(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{manualClock: true, srv: func(c *server.Config) { c.PublishRate = 5 }})
		c, _ := dialDeflate(t, ts.addr, "permessage-deflate")
		for i := range 5 {
			sendCompressed(t, c, ws.OpText, mustJSON(t, jsonOp("pub", "r", i, i)))
			expectKV(t, c.NextJSON(), "op", "ack", "id", i)
		}
		sendCompressed(t, c, ws.OpText, mustJSON(t, jsonOp("pub", "r", 5, 5)))
		expectKV(t, c.NextJSON(), "op", "err", "id", 5, "code", 429)
		ts.advance(1)
		sendCompressed(t, c, ws.OpText, mustJSON(t, jsonOp("pub", "r", 6, 6)))
		expectKV(t, c.NextJSON(), "op", "ack", "id", 6)

		z := deflateStd(t, []byte(`{"op":"ping","id":1}`))
		c.Write(clientFrame(ws.OpText, false, true, z[:4])) // never finished
		ts.settle(t, c)
		ts.advance(9)
		ts.srv.Hub().Flush()
		if n := ts.srv.Stats().DeadlineCloses; n != 0 {
			t.Fatalf("closed before the 10 s deadline (%d)", n)
		}
		ts.advance(1)
		c.ExpectClose(1008)
	})
}
