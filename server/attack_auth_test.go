package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"

	"github.com/starling-ws/starling/gate"
	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/server"
)

// BenchmarkAttackAuthOp is the server's cost of one auth op with a good
// token, per algorithm, over a real socket: what a client that refreshes
// in a loop makes its event loop spend (the op is verified on the loop,
// like a handshake token, but no accept bucket stands in front of it).
// Ops are pipelined in batches of 64, acks read per batch.
func BenchmarkAttackAuthOp(b *testing.B) {
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	rk := testRSAKey(b)
	for _, alg := range []struct {
		name string
		m    jwt.SigningMethod
		sign any
		pub  any
	}{
		{"HS256", jwt.SigningMethodHS256, testSecret, nil},
		{"RS256", jwt.SigningMethodRS256, rk, &rk.PublicKey},
		{"ES256", jwt.SigningMethodES256, ek, &ek.PublicKey},
	} {
		b.Run(alg.name, func(b *testing.B) {
			w := newWall()
			ts := startServer(b, "epoll", opts{manualClock: true, srv: func(c *server.Config) {
				tc := gate.TokenConfig{PublicKey: alg.pub, Leeway: gate.DefaultLeeway, Now: w.Now}
				if alg.pub == nil {
					tc.Secret = testSecret
				}
				v, err := gate.NewVerifier(tc)
				if err != nil {
					b.Fatal(err)
				}
				c.Tokens, c.Now, c.PingInterval = v, w.Now, time.Hour
			}})
			tok := signWith(b, alg.m, alg.sign, claims(w, "u1", time.Hour, []string{"room.*"}, []string{"room.a"}))
			c := wstest.Dial(b, ts.addr)
			if r := request(c, upgradeReq("/ws")); r.status != 101 {
				b.Fatalf("upgrade: %d", r.status)
			}
			op, _ := json.Marshal(map[string]any{"op": "auth", "token": tok, "id": 1})
			frame := wstest.Frame(ws.OpText, true, op)
			const batch = 64
			var buf []byte
			for range batch {
				buf = append(buf, frame...)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				n := min(batch, b.N-done)
				c.Write(buf[:n*len(frame)])
				for range n {
					if _, p := c.NextData(); len(p) == 0 || p[2] != 'o' {
						b.Fatalf("reply %q", p)
					}
				}
			}
		})
	}
}

// TestAttackAuthOpFloodBounded: auth ops verify a signature on the event
// loop (BenchmarkAttackAuthOp: tens of µs for RS256/ES256, against ~1 µs
// for a ping), so an authenticated client that refreshes in a loop must be
// bounded like a publisher: within one second at most -max-publish-rate of
// its auth ops are verified, the rest get err 429 and reading pauses.
// Otherwise one connection can keep its loop busy verifying, and the
// -accept-rate bound on verification CPU (docs/operations.md) is bypassed
// after the upgrade.
func TestAttackAuthOpFloodBounded(t *testing.T) {
	w := newWall()
	ts := startServer(t, "epoll", opts{manualClock: true, srv: withTokens(w, func(c *server.Config) { c.PublishRate = 5 })})
	tok := mint(t, claims(w, "u1", time.Hour, []string{"*"}, nil))
	c := ts.upgradeWith(t, "/ws", bearer(tok))
	const flood = 50
	var buf []byte
	for i := range flood {
		op, _ := json.Marshal(map[string]any{"op": "auth", "token": tok, "id": i})
		buf = append(buf, wstest.Frame(ws.OpText, true, op)...)
	}
	c.Write(buf)
	// Replies come in op order: the bucket's 5, then refusals.
	for i := range 5 {
		if m := c.NextJSON(); m["op"] != "ack" || m["id"] != float64(i) {
			t.Fatalf("auth op %d: %v", i, m)
		}
	}
	if m := c.NextJSON(); m["op"] != "ack" {
		expectKV(t, m, "op", "err", "id", 5, "code", 429, "msg", "auth rate over -max-publish-rate")
	} else {
		t.Fatalf("%d auth ops verified within one second on one connection with -max-publish-rate 5: unbounded", 6)
	}
	if n := ts.srv.Stats().PublishesLimited; n == 0 {
		t.Fatal("refusal not counted")
	}
	if st := ts.srv.Stats(); st.Open != 1 {
		t.Fatalf("a refused auth op closed the connection: %+v", st)
	}
}

// TestAttackRefreshKeepsSubject: a refresh may renew a connection's token,
// not change whose connection it is. An auth op whose token names another
// sub is refused (4401): otherwise a connection authenticated as alice
// becomes bob's while keeping the subscriptions alice's grant allowed, and
// POST /api/disconnect {"user":"alice"} (the backend's way to cut alice
// off) no longer finds it.
func TestAttackRefreshKeepsSubject(t *testing.T) {
	w := newWall()
	ts := startServer(t, "epoll", opts{manualClock: true, srv: withTokens(w)})
	alice := mint(t, claims(w, "alice", time.Hour, []string{"user.alice"}, nil))
	bob := mint(t, claims(w, "bob", time.Hour, []string{"user.bob"}, nil))
	c := ts.upgradeWith(t, "/ws", bearer(alice))
	c.SendJSON(jsonOp("sub", "user.alice", 1, nil))
	expectKV(t, c.NextJSON(), "op", "ack", "id", 1)
	// Same subject: a renewal, acknowledged.
	c.SendJSON(map[string]any{"op": "auth", "token": mint(t, claims(w, "alice", 2*time.Hour, []string{"user.alice"}, nil)), "id": 2})
	expectKV(t, c.NextJSON(), "op", "ack", "id", 2)
	c.SendJSON(map[string]any{"op": "auth", "token": bob, "id": 3})
	expectCloseReason(t, c, 4401, "token subject changed")
	if n := ts.srv.Stats().AuthFailures["bad_claims"]; n != 1 {
		t.Fatalf("bad_claims %d, want 1", n)
	}
	// A token without sub cannot become someone's either, nor the reverse.
	anon := ts.upgradeWith(t, "/ws", bearer(mint(t, claims(w, "", time.Hour, []string{"*"}, nil))))
	anon.SendJSON(map[string]any{"op": "auth", "token": alice, "id": 1})
	expectCloseReason(t, anon, 4401, "token subject changed")
	// Unauthenticated, the first auth op may name anyone.
	first := ts.upgradeWith(t, "/ws")
	first.SendJSON(map[string]any{"op": "auth", "token": bob, "id": 1})
	expectKV(t, first.NextJSON(), "op", "ack", "id", 1)
}
