package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/gate"
	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/poller"
	"github.com/starling-ws/starling/server"
)

// Hostile clients against the gate (issue 14): tokens, the PROXY header,
// X-Forwarded-For and the per-address cap, each with the outcome it must
// get, over real sockets.

// TestAttackTokenSize: a token in the request is bounded by the request
// head (frame.MaxRequest, which gate.MaxToken equals, so a request token
// never reaches the verifier's own bound): 431 before any verification,
// header or query. In an auth op (a message up to -max-message), a token
// past gate.MaxToken closes 4401 "token malformed" without being parsed.
// The connection next to them is unaffected.
func TestAttackTokenSize(t *testing.T) {
	w := newWall()
	ts := startServer(t, "epoll", opts{manualClock: true, srv: withTokens(w, func(c *server.Config) { c.MaxMessage = 256 << 10 })})
	good := mint(t, claims(w, "u1", time.Hour, []string{"*"}, nil))
	bystander := ts.upgradeWith(t, "/ws", bearer(good))

	big := strings.Repeat("a", 9<<10) // over frame.MaxRequest on its own
	expectRefused(t, request(wstest.Dial(t, ts.addr), upgradeReq("/ws?token="+big)), 431, "too_large")
	expectRefused(t, request(wstest.Dial(t, ts.addr), upgradeReq("/ws", bearer(big))), 431, "too_large")

	// In an auth op (a message up to -max-message): 4401 "token malformed"
	// for 8 KiB + 1 and for 200 KiB alike.
	for _, n := range []int{gate.MaxToken + 1, 200 << 10} {
		c := ts.upgradeWith(t, "/ws")
		c.SendJSON(map[string]any{"op": "auth", "token": strings.Repeat("x", n), "id": 1})
		expectCloseReason(t, c, 4401, "token malformed")
	}
	bystander.SendJSON(jsonOp("sub", "still", 1, nil))
	expectKV(t, bystander.NextJSON(), "op", "ack", "id", 1)
}

// TestAttackTokenPrecedence: with a token in both the header and the
// query, the header decides, good or bad (docs/protocol.md: a bad header
// token is refused even if the query holds a good one). A second
// Authorization header is 400 (which one would a proxy have checked?),
// whatever either holds. A non-Bearer scheme carries no token: the query's
// is used.
func TestAttackTokenPrecedence(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		w := newWall()
		ts := startServer(t, engine, opts{manualClock: true, srv: withTokens(w)})
		onlyA := mint(t, claims(w, "ua", time.Hour, []string{"a"}, nil))
		onlyB := mint(t, claims(w, "ub", time.Hour, []string{"b"}, nil))
		bad := mint(t, claims(w, "ux", -time.Hour, []string{"*"}, nil))

		c := ts.upgradeWith(t, "/ws?token="+onlyB, bearer(onlyA))
		c.SendJSON(jsonOp("sub", "a", 1, nil))
		expectKV(t, c.NextJSON(), "op", "ack", "id", 1)
		c.SendJSON(jsonOp("sub", "b", 2, nil))
		expectKV(t, c.NextJSON(), "op", "err", "id", 2, "code", 403)

		expectRefused(t, request(wstest.Dial(t, ts.addr), upgradeReq("/ws?token="+onlyA, bearer(bad))), 401, "token expired")
		expectRefused(t, request(wstest.Dial(t, ts.addr), upgradeReq("/ws?token="+bad, bearer(onlyA))), 101, "")

		expectRefused(t, request(wstest.Dial(t, ts.addr), upgradeReq("/ws", bearer(onlyA), bearer(onlyA))), 400, "bad_request")
		expectRefused(t, request(wstest.Dial(t, ts.addr), upgradeReq("/ws", bearer(onlyA), "authorization: Basic eDp5")), 400, "bad_request")

		// Basic is not a bearer token: the query's token is the one.
		q := ts.upgradeWith(t, "/ws?token="+onlyB, "Authorization: Basic eDp5")
		q.SendJSON(jsonOp("sub", "b", 1, nil))
		expectKV(t, q.NextJSON(), "op", "ack", "id", 1)
		// Two token parameters: the first is the one.
		expectRefused(t, request(wstest.Dial(t, ts.addr), upgradeReq("/ws?token="+bad+"&token="+onlyA)), 401, "token expired")
	})
}

// TestAttackTokenExpiryExtremes: exp far in the future (past 2106, up to
// 2^53 seconds) never wraps into the past or into "never expires" on the
// connection's uint32 deadline: a good far-future exp is accepted and the
// connection outlives a year of ticks... (the manual clock moves a few
// ticks; the deadline is checked to be ahead); an exp beyond 2^53 seconds
// (where int64 of the float and time.Unix stop being exact), 0 or
// negative is refused.
func TestAttackTokenExpiryExtremes(t *testing.T) {
	w := newWall()
	ts := startServer(t, "epoll", opts{manualClock: true, srv: withTokens(w)})
	with := func(exp any) string {
		c := claims(w, "u", time.Hour, []string{"*"}, nil)
		c["exp"] = exp
		return mint(t, c)
	}
	for _, exp := range []any{int64(1) << 32, int64(1) << 40, int64(1) << 53} {
		c := ts.upgradeWith(t, "/ws", bearer(with(exp)))
		ts.advance(3)
		c.SendJSON(jsonOp("sub", "x", 1, nil))
		expectKV(t, c.NextJSON(), "op", "ack", "id", 1)
		c.SendJSON(map[string]any{"op": "auth", "token": with(exp), "id": 2})
		expectKV(t, c.NextJSON(), "op", "ack", "id", 2)
		ts.advance(3)
		c.SendJSON(jsonOp("ping", "", 3, nil))
		expectKV(t, c.NextJSON(), "op", "pong", "id", 3)
	}
	// Beyond 2^53 seconds, 0, negative: refused (never "no expiry").
	for _, exp := range []any{int64(1)<<53 + 2, 1e17, float64(1<<62) * 1.5, 1e19, 1e300, 0, -1, -1e19} {
		r := request(wstest.Dial(t, ts.addr), upgradeReq("/ws", bearer(with(exp))))
		if r.status != 401 {
			t.Fatalf("exp %v: %d %q, want 401", exp, r.status, r.body)
		}
	}
	if st := ts.srv.Stats(); st.TokenExpiries != 0 || st.Closes["server"][4401] != 0 {
		t.Fatalf("a far-future token expired: %+v", st)
	}
}

// TestAttackAlgorithmConfusion: the key types decide the algorithms. With
// an HMAC secret only, RS256/ES256 tokens are refused; with an ECDSA key
// only, an HS256 token signed with the key's PEM or DER as the secret is
// refused, and so is an ES384 token (the curve fixes the hash); with both,
// each verifies only its own algorithms and a token signed by the other key
// under a swapped alg fails.
func TestAttackAlgorithmConfusion(t *testing.T) {
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&ek.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	ek384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	w := newWall()
	start := func(secret []byte, pub any) *testServer {
		return startServer(t, "epoll", opts{manualClock: true, srv: func(c *server.Config) {
			v, err := gate.NewVerifier(gate.TokenConfig{Secret: secret, PublicKey: pub, Leeway: gate.DefaultLeeway, Now: w.Now})
			if err != nil {
				t.Fatal(err)
			}
			c.Tokens, c.Now = v, w.Now
		}})
	}
	ok := claims(w, "u1", time.Hour, []string{"*"}, nil)
	refused := func(ts *testServer, tok, why string) {
		t.Helper()
		expectRefused(t, request(wstest.Dial(t, ts.addr), upgradeReq("/ws", bearer(tok))), 401, why)
		c := ts.upgradeWith(t, "/ws")
		c.SendJSON(map[string]any{"op": "auth", "token": tok, "id": 1})
		expectCloseReason(t, c, 4401, why)
	}

	hmacOnly := start(testSecret, nil)
	hmacOnly.upgradeWith(t, "/ws", bearer(mint(t, ok)))
	refused(hmacOnly, signWith(t, jwt.SigningMethodES256, ek, ok), "token algorithm not allowed")

	ecOnly := start(nil, &ek.PublicKey)
	ecOnly.upgradeWith(t, "/ws", bearer(signWith(t, jwt.SigningMethodES256, ek, ok)))
	refused(ecOnly, signWith(t, jwt.SigningMethodHS256, pemBytes, ok), "token algorithm not allowed")
	refused(ecOnly, signWith(t, jwt.SigningMethodHS256, der, ok), "token algorithm not allowed")
	refused(ecOnly, signWith(t, jwt.SigningMethodES384, ek384, ok), "token algorithm not allowed")

	both := start(testSecret, &ek.PublicKey)
	both.upgradeWith(t, "/ws", bearer(mint(t, ok)))
	both.upgradeWith(t, "/ws", bearer(signWith(t, jwt.SigningMethodES256, ek, ok)))
	refused(both, signWith(t, jwt.SigningMethodHS256, pemBytes, ok), "token signature invalid")
	// An ES256 header on an HMAC signature: the parser hands the EC key to
	// ECDSA, which refuses the 32-byte signature.
	hs := strings.Split(mint(t, ok), ".")
	es := strings.Split(signWith(t, jwt.SigningMethodES256, ek, ok), ".")
	refused(both, es[0]+"."+es[1]+"."+hs[2], "token signature invalid")
}

// proxyV2Raw is a PROXY v2 header with the given command/family bytes,
// declared length and address block (which may disagree with it).
func proxyV2Raw(verCmd, fam byte, declared uint16, block []byte) string {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, verCmd, fam)
	b = binary.BigEndian.AppendUint16(b, declared)
	return string(append(b, block...))
}

// TestAttackProxyV2BogusLengths: from a trusted peer, a PROXY v2 header
// whose length field is past the library's bound is 400 at once (nothing
// is awaited); one whose length disagrees with its address family, or with
// a bad version or command, is 400; one that declares more than the peer
// sends is held only to the handshake deadline (408), its buffer bounded by
// frame.MaxRequest. Other connections are unaffected throughout.
func TestAttackProxyV2BogusLengths(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		perIP, err := gate.NewPerIP(100, 64)
		if err != nil {
			t.Fatal(err)
		}
		ts := startServer(t, engine, opts{manualClock: true, srv: func(c *server.Config) {
			p, err := gate.ParseProxies("127.0.0.1/32")
			if err != nil {
				t.Fatal(err)
			}
			c.Proxies, c.PerIP = p, perIP
		}})
		bystander := dialFrom(t, ts.addr, "127.0.0.1")
		if r := request(bystander, proxyV2("198.51.100.1")+upgradeReq("/ws")); r.status != 101 {
			t.Fatalf("bystander: %d", r.status)
		}
		plain := upgradeReq("/ws")
		ip4 := make([]byte, 12)
		for _, tc := range []struct {
			name string
			raw  string
		}{
			{"length 0xffff", proxyV2Raw(0x21, 0x11, 0xffff, nil)},
			{"length 4097", proxyV2Raw(0x21, 0x11, 4097, nil)},
			{"TCP4 with 4 bytes", proxyV2Raw(0x21, 0x11, 4, ip4[:4]) + plain},
			{"TCP4 with 0 bytes", proxyV2Raw(0x21, 0x11, 0, nil) + plain},
			{"TCP6 with a TCP4 block", proxyV2Raw(0x21, 0x21, 12, ip4) + plain},
			{"version 3", proxyV2Raw(0x31, 0x11, 12, ip4) + plain},
			{"command 0xF", proxyV2Raw(0x2F, 0x11, 12, ip4) + plain},
		} {
			c := dialFrom(t, ts.addr, "127.0.0.1")
			expectRefused(t, request(c, tc.raw), 400, "bad_request")
		}
		// Declares 2 KiB, sends 100 bytes of it: waits for the rest, then
		// the handshake deadline answers 408.
		c := dialFrom(t, ts.addr, "127.0.0.1")
		before := ts.srv.Stats().BytesIn // every earlier request was answered, so read
		c.Write([]byte(proxyV2Raw(0x21, 0x11, 2048, make([]byte, 100))))
		wstest.WaitFor(t, "the partial header read", func() bool { return ts.srv.Stats().BytesIn >= before+116 })
		ts.srv.Hub().Flush()
		if st := ts.srv.Stats(); st.Handshaking != 1 {
			t.Fatalf("handshaking %d, want the one waiting", st.Handshaking)
		}
		ts.advance(int(server.Defaults().HandshakeTimeout / time.Second))
		r := c.ReadResponse()
		if r.StatusCode != 408 {
			t.Fatalf("a PROXY header never completed: %d, want 408", r.StatusCode)
		}
		if n := ts.srv.Stats().Rejected["bad_request"]; n != 7 {
			t.Fatalf("bad_request %d, want 7", n)
		}
		bystander.SendJSON(jsonOp("sub", "still", 1, nil))
		expectKV(t, bystander.NextJSON(), "op", "ack", "id", 1)
		if perIP.Len() != 1 || perIP.Count(netip.MustParseAddr("198.51.100.1")) != 1 {
			t.Fatalf("per-address table holds %d entries, want only the bystander's", perIP.Len())
		}
	})
}

// TestAttackForwardedForHops: X-Forwarded-For is bounded by the request
// head (frame.MaxRequest, 431 beyond: 10,000 hops never reach the gate).
// Within it, ~1,000 hops are read right to left and stop at the first
// untrusted one (the forged rest is never parsed: garbage left of it is
// fine); when every hop is a trusted proxy the leftmost is the client; an
// unreadable hop right of the client is 400.
func TestAttackForwardedForHops(t *testing.T) {
	perIP, err := gate.NewPerIP(1, 64)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, "epoll", opts{srv: func(c *server.Config) {
		p, err := gate.ParseProxies("127.0.0.1/32, 10.0.0.0/8")
		if err != nil {
			t.Fatal(err)
		}
		c.Proxies, c.PerIP = p, perIP
	}})
	count := func(s string) int { return perIP.Count(netip.MustParseAddr(s)) }
	hops := func(n int, hop string) string { return strings.TrimSuffix(strings.Repeat(hop+",", n), ",") }
	up := func(xff ...string) response {
		var hs []string
		for _, x := range xff {
			hs = append(hs, "X-Forwarded-For: "+x)
		}
		return request(dialFrom(t, ts.addr, "127.0.0.1"), upgradeReq("/ws", hs...))
	}

	expectRefused(t, up(hops(10000, "1.2.3.4")), 431, "too_large")
	expectRefused(t, up(strings.Repeat("9", 8<<10)), 431, "too_large")

	// ~7.5 KiB of forged garbage, then the client, then trusted hops.
	if r := up(strings.Repeat("x", 7<<10) + ", 198.51.100.1, " + hops(20, "10.9.9.9")); r.status != 101 || count("198.51.100.1") != 1 {
		t.Fatalf("garbage left of the client: %d, counted %d", r.status, count("198.51.100.1"))
	}
	// 800 trusted hops (7.2 KiB): the leftmost is the client (10.0.0.1).
	if r := up("10.0.0.1, " + hops(800, "10.2.3.4")); r.status != 101 || count("10.0.0.1") != 1 {
		t.Fatalf("all trusted: %d, counted %d", r.status, count("10.0.0.1"))
	}
	// Split over frame.MaxHeaderValues header lines, read right to left
	// across them; one line more is 400.
	var many []string
	for i := range frame.MaxHeaderValues {
		many = append(many, hops(40, fmt.Sprintf("10.0.%d.1", i)))
	}
	many[0] = "198.51.100.2, " + many[0]
	if r := up(many...); r.status != 101 || count("198.51.100.2") != 1 {
		t.Fatalf("%d lines: %d, counted %d", len(many), r.status, count("198.51.100.2"))
	}
	expectRefused(t, up(append(many, "10.0.0.1")...), 400, "bad_request")
	// A trusted proxy wrote something unreadable right of the client.
	expectRefused(t, up("198.51.100.3, 10.1.1.1:notaport:x, 10.1.1.2"), 400, "bad_request")
	expectRefused(t, up("198.51.100.3, "+strings.Repeat("1", 65)), 400, "bad_request")
	if count("198.51.100.3") != 0 {
		t.Fatal("a refused request was counted")
	}
}

// TestAttackPerIPDualStack: on a dual-stack listener an IPv4 client is
// seen as ::ffff:a.b.c.d; the per-address cap counts it as the IPv4
// address (one cap, whichever form), apart from ::1; a forwarded hop in
// IPv4-mapped form counts against the same address as its IPv4 form;
// IPv6 hops of one /64 share one count.
func TestAttackPerIPDualStack(t *testing.T) {
	perIP, err := gate.NewPerIP(1, 64)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, "epoll", opts{
		eng: func(c *poller.Config) { c.Addr = "[::]:0" },
		srv: func(c *server.Config) {
			p, err := gate.ParseProxies("::1/128")
			if err != nil {
				t.Fatal(err)
			}
			c.Proxies, c.PerIP = p, perIP
		}})
	_, port, _ := strings.Cut(ts.addr, "]:")
	v4, v6 := "127.0.0.1:"+port, "[::1]:"+port
	dial := func(addr string, hdr ...string) response {
		return request(wstest.Dial(t, addr), upgradeReq("/ws", hdr...))
	}
	if r := dial(v4); r.status != 101 || perIP.Count(netip.MustParseAddr("127.0.0.1")) != 1 {
		t.Fatalf("v4 on a dual-stack listener: %d, counted %d", r.status, perIP.Count(netip.MustParseAddr("127.0.0.1")))
	}
	expectRefused(t, dial(v4), 429, "too many connections from this address (-max-conns-per-ip)")
	// ::1 is a trusted proxy: its own connection counts ::1 ...
	if r := dial(v6); r.status != 101 {
		t.Fatalf("::1: %d", r.status)
	}
	// ... and the client it forwards, in either form, is one address.
	if r := dial(v6, "X-Forwarded-For: ::ffff:198.51.100.5"); r.status != 101 || perIP.Count(netip.MustParseAddr("198.51.100.5")) != 1 {
		t.Fatalf("mapped hop: %d", r.status)
	}
	expectRefused(t, dial(v6, "X-Forwarded-For: 198.51.100.5"), 429, "too many connections from this address (-max-conns-per-ip)")
	expectRefused(t, dial(v6, "X-Forwarded-For: [::ffff:198.51.100.5]:443"), 429, "too many connections from this address (-max-conns-per-ip)")
	// Two addresses of one /64: one count.
	if r := dial(v6, "X-Forwarded-For: 2001:db8:1:2::1"); r.status != 101 {
		t.Fatalf("v6 hop: %d", r.status)
	}
	expectRefused(t, dial(v6, "X-Forwarded-For: 2001:db8:1:2:ffff::9"), 429, "too many connections from this address (-max-conns-per-ip)")
	if r := dial(v6, "X-Forwarded-For: 2001:db8:1:3::1"); r.status != 101 {
		t.Fatalf("next /64: %d", r.status)
	}
}
