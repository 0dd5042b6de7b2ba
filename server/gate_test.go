package server_test

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/starling-ws/starling/gate"
	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/server"
)

// Browser Origins not in -allowed-origins get 403 before the upgrade;
// requests without an Origin pass unless -require-origin.
func TestOrigins(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		for _, require := range []bool{false, true} {
			ts := startServer(t, engine, opts{srv: func(c *server.Config) {
				o, err := gate.ParseOrigins("https://app.example.com, https://*.example.org", require)
				if err != nil {
					t.Fatal(err)
				}
				c.Origins = o
			}})
			ts.upgradeWith(t, "/ws", "Origin: https://app.example.com")
			ts.upgradeWith(t, "/ws", "Origin: https://a.b.example.org")
			for _, bad := range []string{"https://evil.example.net", "http://app.example.com", "https://example.org", "null"} {
				expectRefused(t, request(wstest.Dial(t, ts.addr), upgradeReq("/ws", "Origin: "+bad)), 403, "origin not allowed")
			}
			none := request(wstest.Dial(t, ts.addr), upgradeReq("/ws"))
			want := 4
			if require {
				expectRefused(t, none, 403, "origin not allowed")
				want = 5
			} else if none.status != 101 {
				t.Fatalf("no Origin, -require-origin off: %d", none.status)
			}
			if n := ts.srv.Stats().Rejected["forbidden"]; n != uint64(want) {
				t.Fatalf("require=%v: forbidden %d, want %d", require, n, want)
			}
		}
	})
}

// -max-conns-per-ip counts connections per client address (here several
// 127.0.0.x sources): beyond it, 429; a slot comes back when its
// connection closes, and a connection refused later in the handshake
// (a bad token) gives its slot back too: exactly once each.
func TestPerIPCap(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		w := newWall()
		perIP, err := gate.NewPerIP(2, 64)
		if err != nil {
			t.Fatal(err)
		}
		ts := startServer(t, engine, opts{srv: withTokens(w, func(c *server.Config) { c.PerIP = perIP })})
		good := bearer(mint(t, claims(w, "u", 3600e9, []string{"*"}, nil)))
		up := func(from string) response {
			return request(dialFrom(t, ts.addr, from), upgradeReq("/ws", good))
		}
		a1 := dialFrom(t, ts.addr, "127.0.0.2")
		if r := request(a1, upgradeReq("/ws", good)); r.status != 101 {
			t.Fatalf("first from .2: %d", r.status)
		}
		if r := up("127.0.0.2"); r.status != 101 {
			t.Fatalf("second from .2: %d", r.status)
		}
		expectRefused(t, up("127.0.0.2"), 429, "too many connections from this address (-max-conns-per-ip)")
		for _, from := range []string{"127.0.0.3", "127.0.0.4"} {
			if r := up(from); r.status != 101 {
				t.Fatalf("from %s: %d", from, r.status)
			}
		}
		// A bad token takes a slot, held while its TCP connection lasts,
		// and gives it back when that ends.
		a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
		for range 3 {
			c := dialFrom(t, ts.addr, "127.0.0.5")
			expectRefused(t, request(c, upgradeReq("/ws", bearer("x.y.z"))), 401, "token malformed")
			c.C.Close()
			wstest.WaitFor(t, "the refused connection's slot released", func() bool { return perIP.Count(a("127.0.0.5")) == 0 })
		}
		if perIP.Count(a("127.0.0.2")) != 2 || perIP.Count(a("127.0.0.3")) != 1 || perIP.Len() != 3 {
			t.Fatalf("counts .2 %d .3 %d, addresses %d", perIP.Count(a("127.0.0.2")), perIP.Count(a("127.0.0.3")), perIP.Len())
		}
		a1.C.Close()
		wstest.WaitFor(t, "a slot of .2 released", func() bool { return perIP.Count(a("127.0.0.2")) == 1 })
		if r := up("127.0.0.2"); r.status != 101 {
			t.Fatalf("from .2 after a close: %d", r.status)
		}
		if n := ts.srv.Stats().Rejected["too_many"]; n != 1 {
			t.Fatalf("too_many %d, want 1", n)
		}
		// Every connection gone: the table is empty (no slot released twice,
		// none kept).
		ts.srv.Close()
		if perIP.Len() != 0 {
			t.Fatalf("after close: %d addresses still counted", perIP.Len())
		}
	})
}

// proxyV1 is a PROXY protocol v1 line for a TCP4 client src.
func proxyV1(src string) string {
	return "PROXY TCP4 " + src + " 127.0.0.1 40000 8080\r\n"
}

// proxyV2 is a binary PROXY protocol v2 header (spec section 2.2) for a
// TCP over IPv4 client src, or a LOCAL command when src is "".
func proxyV2(src string) string {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	if src == "" {
		return string(append(b, 0x20, 0x00, 0, 0))
	}
	b = append(b, 0x21, 0x11, 0, 12)
	s, d := netip.MustParseAddr(src).As4(), [4]byte{127, 0, 0, 1}
	b = append(append(b, s[:]...), d[:]...)
	b = binary.BigEndian.AppendUint16(b, 40000)
	b = binary.BigEndian.AppendUint16(b, 8080)
	return string(b)
}

// Behind a trusted proxy the client address is what the proxy says: a
// PROXY v1 or v2 header (split over reads or not) or the last untrusted
// X-Forwarded-For hop; from an untrusted peer both are ignored, and a
// PROXY header is refused. The per-address cap (1 here) shows which
// address was counted.
func TestTrustedProxies(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		perIP, err := gate.NewPerIP(1, 64)
		if err != nil {
			t.Fatal(err)
		}
		ts := startServer(t, engine, opts{srv: func(c *server.Config) {
			p, err := gate.ParseProxies("127.0.0.1/32, 10.0.0.0/8")
			if err != nil {
				t.Fatal(err)
			}
			c.Proxies, c.PerIP = p, perIP
		}})
		count := func(s string) int { return perIP.Count(netip.MustParseAddr(s)) }
		up := func(from, raw string) response { return request(dialFrom(t, ts.addr, from), raw) }
		plain := upgradeReq("/ws")

		if r := up("127.0.0.1", proxyV1("203.0.113.7")+plain); r.status != 101 {
			t.Fatalf("PROXY v1: %d %q", r.status, r.body)
		}
		if count("203.0.113.7") != 1 || count("127.0.0.1") != 0 {
			t.Fatalf("v1: counted %d for the client, %d for the proxy", count("203.0.113.7"), count("127.0.0.1"))
		}
		expectRefused(t, up("127.0.0.1", proxyV1("203.0.113.7")+plain), 429, "too many connections from this address (-max-conns-per-ip)")
		if r := up("127.0.0.1", proxyV2("203.0.113.8")+plain); r.status != 101 || count("203.0.113.8") != 1 {
			t.Fatalf("PROXY v2: %d, counted %d", r.status, count("203.0.113.8"))
		}
		// Split over reads: the header in three pieces, then the request
		// in two, each read by the server before the next is sent.
		c := dialFrom(t, ts.addr, "127.0.0.1")
		raw := proxyV2("203.0.113.9") + plain
		for _, cut := range [][2]int{{0, 5}, {5, 14}, {14, 30}, {30, 60}} {
			c.Write([]byte(raw[cut[0]:cut[1]]))
			ts.settle(t, c)
		}
		if r := request(c, raw[60:]); r.status != 101 || count("203.0.113.9") != 1 {
			t.Fatalf("split v2: %d, counted %d", r.status, count("203.0.113.9"))
		}
		// LOCAL (a proxy's health check): the peer's own address.
		if r := up("127.0.0.1", proxyV2("")+plain); r.status != 101 || count("127.0.0.1") != 1 {
			t.Fatalf("LOCAL: %d, counted %d for the peer", r.status, count("127.0.0.1"))
		}
		// X-Forwarded-For: right to left, the first hop that is not a
		// trusted proxy (10.1.2.3 is one).
		xff := upgradeReq("/ws", "X-Forwarded-For: 192.0.2.66, 198.51.100.9, 10.1.2.3")
		if r := up("127.0.0.1", xff); r.status != 101 || count("198.51.100.9") != 1 || count("192.0.2.66") != 0 {
			t.Fatalf("XFF: %d, counted %d for the hop, %d for the forged left one", r.status, count("198.51.100.9"), count("192.0.2.66"))
		}
		// From an untrusted peer: XFF ignored, PROXY refused.
		if r := up("127.0.0.2", upgradeReq("/ws", "X-Forwarded-For: 198.51.100.77")); r.status != 101 || count("127.0.0.2") != 1 || count("198.51.100.77") != 0 {
			t.Fatalf("untrusted XFF: %d, counted .2 %d, the claimed address %d", r.status, count("127.0.0.2"), count("198.51.100.77"))
		}
		expectRefused(t, up("127.0.0.3", proxyV1("203.0.113.50")+plain), 400, "bad_request")
		expectRefused(t, up("127.0.0.1", "PROXY TCP4 nonsense\r\n"+plain), 400, "bad_request")
		expectRefused(t, up("127.0.0.1", upgradeReq("/ws", "X-Forwarded-For: not-an-address")), 400, "bad_request")
		if n := ts.srv.Stats().Rejected["bad_request"]; n != 3 {
			t.Fatalf("bad_request %d, want 3", n)
		}
	})
}
