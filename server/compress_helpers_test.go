package server_test

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/internal/wsframe"
	"github.com/starling-ws/starling/internal/wstest"
)

// Test support for permessage-deflate: raw clients that offer it, client
// frames compressed with the standard library's compress/flate (not the
// server's klauspost), and server frames inflated with it too, so the
// server's output is checked by an independent inflater.

// deflateRequest is an upgrade request carrying each ext as one
// Sec-WebSocket-Extensions header.
func deflateRequest(ext ...string) string {
	var b strings.Builder
	b.WriteString("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + wstest.TestKey + "\r\nSec-WebSocket-Version: 13\r\n")
	for _, e := range ext {
		b.WriteString("Sec-WebSocket-Extensions: " + e + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// dialDeflate upgrades a raw client offering ext and returns it with the
// extension the server answered ("" for none).
func dialDeflate(t testing.TB, addr string, ext ...string) (*wstest.Conn, string) {
	t.Helper()
	c := wstest.Dial(t, addr)
	c.Write([]byte(deflateRequest(ext...)))
	resp := c.ReadResponse()
	if resp.StatusCode != 101 {
		t.Fatalf("upgrade offering %q: status %d", ext, resp.StatusCode)
	}
	if v := resp.Header.Values("Sec-WebSocket-Extensions"); len(v) > 1 {
		t.Fatalf("offering %q: %d extension headers in the 101: %q", ext, len(v), v)
	}
	return c, resp.Header.Get("Sec-WebSocket-Extensions")
}

// agreed is the element the server answers a plain browser-style offer
// with.
const agreed = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

// deflateStd compresses p as one permessage-deflate message (RFC 7692
// 7.2.1) with compress/flate: a sync flush, its 00 00 ff ff removed.
func deflateStd(t testing.TB, p []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(p)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	out := b.Bytes()
	if !bytes.HasSuffix(out, []byte{0, 0, 0xff, 0xff}) {
		t.Fatalf("no sync marker: % x", out[len(out)-4:])
	}
	return out[:len(out)-4]
}

// inflateStd inflates a compressed message's payload with compress/flate.
func inflateStd(t testing.TB, p []byte) []byte {
	t.Helper()
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), strings.NewReader("\x00\x00\xff\xff\x01\x00\x00\xff\xff")))
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("server frame does not inflate: %v", err)
	}
	return out
}

// clientFrame is a masked client frame with RSV1 set if rsv1.
func clientFrame(op ws.OpCode, fin, rsv1 bool, p []byte) []byte {
	f := wsframe.AppendClient(nil, op, fin, p)
	if rsv1 {
		f[0] |= 0x40
	}
	return f
}

// sendCompressed sends p as one compressed message.
func sendCompressed(t testing.TB, c *wstest.Conn, op ws.OpCode, p []byte) {
	t.Helper()
	c.Write(clientFrame(op, true, true, deflateStd(t, p)))
}

// nextPlain reads the next data frame and returns whether it was
// compressed and its content (inflated if it was).
func nextPlain(t testing.TB, c *wstest.Conn) (compressed bool, p []byte) {
	t.Helper()
	h, p := c.NextDataFrame()
	if h.Rsv&4 != 0 {
		return true, inflateStd(t, p)
	}
	return false, p
}

// nextJSONMsg reads the next data frame as a JSON object.
func nextJSONMsg(t testing.TB, c *wstest.Conn) (compressed bool, m map[string]any) {
	t.Helper()
	compressed, p := nextPlain(t, c)
	if err := json.Unmarshal(p, &m); err != nil {
		t.Fatalf("bad JSON %q: %v", p, err)
	}
	return compressed, m
}

// tapConn records what a client library reads from its socket, so a test
// sees which server frames carried RSV1.
type tapConn struct {
	net.Conn
	mu sync.Mutex
	in []byte
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.in = append(c.in, p[:n]...)
	c.mu.Unlock()
	return n, err
}

// frames lists the RSV bits and opcodes of the complete frames read so
// far after the HTTP response head.
func (c *tapConn) frames() (rsv []byte, ops []ws.OpCode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.in
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		return nil, nil
	}
	b = b[i+4:]
	for {
		h, ok := wsframe.ParseHeader(b)
		if !ok || uint64(len(b)-h.Size) < h.Len {
			return rsv, ops
		}
		rsv, ops = append(rsv, h.Rsv), append(ops, h.Op)
		b = b[h.Size+int(h.Len):]
	}
}
