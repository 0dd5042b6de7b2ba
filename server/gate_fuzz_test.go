package server

import (
	"testing"

	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/gate"
)

// FuzzParseRequest: the request head behind an optional PROXY header, as
// the handshake sees it read by read. Whatever the bytes: an accepted head
// has the same length parsed alone, every proper prefix of it asks for
// more (so a split over reads never changes the verdict), and a PROXY
// header is only ever read with trusted proxies configured.
func FuzzParseRequest(f *testing.F) {
	req := "GET /ws?token=x HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Forwarded-For: 198.51.100.9\r\n\r\n"
	f.Add([]byte(req), true)
	f.Add([]byte("PROXY TCP4 203.0.113.7 127.0.0.1 40000 8080\r\n"+req+"\x81\x80"), true)
	f.Add(append([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xcb\x00\x71\x07\x7f\x00\x00\x01\x9c\x40\x1f\x90"), req...), true)
	f.Add([]byte("PROXY TCP4 203.0.113.7 127.0.0.1 40000 8080\r\n"+req), false)
	f.Add([]byte("PROXY nonsense\r\n"+req), true)
	proxies, err := gate.ParseProxies("127.0.0.1/32")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte, trusted bool) {
		s := &Server{cfg: Config{Path: "/ws"}}
		if trusted {
			s.cfg.Proxies = proxies
		}
		var u frame.Upgrade
		var px proxyHeader
		n, rej := s.parseRequest(b, &u, &px)
		if rej != nil || n == 0 {
			if n != 0 {
				t.Fatalf("refused (%v) with a length %d", rej, n)
			}
			return
		}
		if n > len(b) {
			t.Fatalf("n %d > len %d", n, len(b))
		}
		if px.present && !trusted {
			t.Fatal("a PROXY header read without trusted proxies")
		}
		var u2 frame.Upgrade
		var px2 proxyHeader
		if n2, rej2 := s.parseRequest(b[:n], &u2, &px2); n2 != n || rej2 != nil || px2 != px || u2.Key != u.Key {
			t.Fatalf("the head alone: %d %v %+v, with what follows: %d %+v", n2, rej2, px2, n, px)
		}
		for k := range n {
			var u3 frame.Upgrade
			var px3 proxyHeader
			if m, rej3 := s.parseRequest(b[:k], &u3, &px3); m != 0 || rej3 != nil {
				t.Fatalf("prefix %d of a %d-byte head: %d %v", k, n, m, rej3)
			}
		}
	})
}
