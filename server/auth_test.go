package server_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/starling-ws/starling/gate"
	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/server"
)

// badTokens are tokens every check refuses, with the 401 body (and 4401
// reason) naming the check, and the check's counter label.
func badTokens(t *testing.T, w *wallClock) []struct{ name, tok, why, check string } {
	ok := claims(w, "u1", time.Hour, []string{"*"}, nil)
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range ok {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	key := testRSAKey(t)
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, ok).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return []struct{ name, tok, why, check string }{
		{"expired", mint(t, with("exp", w.Now().Add(-time.Hour).Unix())), "token expired", "expired"},
		{"nbf in the future", mint(t, with("nbf", w.Now().Add(time.Hour).Unix())), "token not valid yet", "not_yet_valid"},
		{"wrong key", signWith(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdef-xyz"), ok), "token signature invalid", "signature"},
		{"alg none", none, "token algorithm not allowed", "algorithm"},
		{"alg RS256 without an RSA key", signWith(t, jwt.SigningMethodRS256, key, ok), "token algorithm not allowed", "algorithm"},
		{"missing exp", mint(t, with("exp", nil)), "token has no exp claim", "missing_exp"},
		{"malformed", "not.a-token", "token malformed", "malformed"},
	}
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// testRSAKey is generated once per test binary (it takes a while).
func testRSAKey(t testing.TB) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaKey = k
	})
	return rsaKey
}

// A token in the Authorization header or the token query parameter is
// checked before the upgrade: a good one upgrades with its permissions, a
// bad one gets 401 with WWW-Authenticate and a body naming the check.
func TestTokenInRequest(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		w := newWall()
		ts := startServer(t, engine, opts{manualClock: true, srv: withTokens(w)})
		good := mint(t, claims(w, "u1", time.Hour, []string{"room.*", "lobby"}, []string{"room.a"}))
		for _, via := range []string{"header", "query"} {
			req := func(tok string) string {
				if via == "header" {
					return upgradeReq("/ws", bearer(tok))
				}
				return upgradeReq("/ws?x=1&token=" + url.QueryEscape(tok))
			}
			c := wstest.Dial(t, ts.addr)
			if r := request(c, req(good)); r.status != 101 {
				t.Fatalf("%s: good token: %d %q", via, r.status, r.body)
			}
			expectPerms(t, c, "room.b", "lobby", "room.a")
			for _, bt := range badTokens(t, w) {
				before := ts.srv.Stats()
				r := request(wstest.Dial(t, ts.addr), req(bt.tok))
				expectRefused(t, r, 401, bt.why)
				if got := r.header.Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
					t.Fatalf("%s %s: WWW-Authenticate %q", via, bt.name, got)
				}
				after := ts.srv.Stats()
				if after.Rejected["unauthorized"] != before.Rejected["unauthorized"]+1 ||
					after.AuthFailures[bt.check] != before.AuthFailures[bt.check]+1 {
					t.Fatalf("%s %s: counters unauthorized %d->%d, %s %d->%d", via, bt.name,
						before.Rejected["unauthorized"], after.Rejected["unauthorized"],
						bt.check, before.AuthFailures[bt.check], after.AuthFailures[bt.check])
				}
			}
		}
		// Header first: a good header wins over a bad query token, and a
		// bad header is refused whatever the query holds.
		bad := mint(t, claims(w, "u1", -time.Hour, []string{"*"}, nil))
		ts.upgradeWith(t, "/ws?token="+bad, bearer(good))
		expectRefused(t, request(wstest.Dial(t, ts.addr), upgradeReq("/ws?token="+good, bearer(bad))), 401, "token expired")
		// Another scheme in Authorization carries no token: the query's is used.
		ts.upgradeWith(t, "/ws?token="+good, "Authorization: Basic dTpw")
		if n := ts.srv.Stats().Authenticated; n != 4 {
			t.Fatalf("authenticated %d, want 4", n)
		}
	})
}

// expectPerms checks a grant of ch.sub [room.*, lobby], ch.pub [room.a]
// on an open connection: allowed subs and pubs are acked, others get 403
// and the connection stays.
func expectPerms(t *testing.T, c *wstest.Conn, subOK, subOK2, pubOK string) {
	t.Helper()
	c.SendJSON(jsonOp("sub", subOK, 1, nil))
	expectKV(t, c.NextJSON(), "op", "ack", "id", 1)
	c.SendJSON(jsonOp("sub", subOK2, 2, nil))
	expectKV(t, c.NextJSON(), "op", "ack", "id", 2)
	c.SendJSON(jsonOp("sub", "secret", 3, nil))
	expectKV(t, c.NextJSON(), "op", "err", "id", 3, "code", 403)
	c.SendJSON(jsonOp("pub", pubOK, 4, 1))
	expectKV(t, c.NextJSON(), "op", "ack", "id", 4)
	c.SendJSON(jsonOp("pub", subOK, 5, 1))
	expectKV(t, c.NextJSON(), "op", "err", "id", 5, "code", 403)
	c.SendJSON(jsonOp("ping", "", 6, nil))
	expectKV(t, c.NextJSON(), "op", "pong", "id", 6)
}

// Without a token in the request, the connection opens unauthenticated:
// every op but auth gets err 401 until an auth op succeeds; a bad auth op
// closes with 4401 naming the check.
func TestAuthOp(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		w := newWall()
		ts := startServer(t, engine, opts{manualClock: true, srv: withTokens(w)})
		good := mint(t, claims(w, "u1", time.Hour, []string{"room.*", "lobby"}, []string{"room.a"}))

		c := ts.upgradeWith(t, "/ws")
		for i, op := range []map[string]any{jsonOp("sub", "room.a", 1, nil), jsonOp("pub", "room.a", 2, 1),
			jsonOp("unsub", "room.a", 3, nil), {"op": "ping", "id": 4}} {
			c.SendJSON(op)
			expectKV(t, c.NextJSON(), "op", "err", "id", i+1, "code", 401)
		}
		c.SendJSON(map[string]any{"op": "auth", "token": good, "id": 9})
		expectKV(t, c.NextJSON(), "op", "ack", "id", 9)
		expectPerms(t, c, "room.b", "lobby", "room.a")

		// The same in MessagePack.
		m := ts.upgradeWith(t, "/ws")
		m.SendMP(map[string]any{"op": "sub", "ch": "lobby", "id": 1})
		expectKV(t, m.NextMP(), "op", "err", "id", 1, "code", 401)
		m.SendMP(map[string]any{"op": "auth", "token": good, "id": 2})
		expectKV(t, m.NextMP(), "op", "ack", "id", 2)
		m.SendMP(map[string]any{"op": "sub", "ch": "lobby", "id": 3})
		expectKV(t, m.NextMP(), "op", "ack", "id", 3)

		for _, bt := range badTokens(t, w) {
			b := ts.upgradeWith(t, "/ws")
			b.SendJSON(map[string]any{"op": "auth", "token": bt.tok, "id": 1})
			expectCloseReason(t, b, 4401, bt.why)
		}
		// A bad refresh on an authenticated connection closes it too.
		c.SendJSON(map[string]any{"op": "auth", "token": "x.y.z", "id": 10})
		expectCloseReason(t, c, 4401, "token malformed")
		wstest.WaitFor(t, "8 closes 4401 counted", func() bool { return ts.srv.Stats().Closes["server"][4401] == 8 })
		if st := ts.srv.Stats(); st.AuthFailures["malformed"] != 2 || st.AuthFailures["algorithm"] != 2 {
			t.Fatalf("auth failures %v", st.AuthFailures)
		}
	})
}

// A connection that has not authenticated within -auth-timeout is closed
// with 4401; one that did is not, on the same wheel tick.
func TestAuthTimeout(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		w := newWall()
		ts := startServer(t, engine, opts{manualClock: true, srv: withTokens(w, func(c *server.Config) {
			c.AuthTimeout = 3 * time.Second
		})})
		late := ts.upgradeWith(t, "/ws")
		authed := ts.upgradeWith(t, "/ws")
		authed.SendJSON(map[string]any{"op": "auth", "token": mint(t, claims(w, "u1", time.Hour, []string{"*"}, nil)), "id": 1})
		expectKV(t, authed.NextJSON(), "op", "ack", "id", 1)
		ts.advance(2)
		ts.srv.Hub().Flush()
		if st := ts.srv.Stats(); st.Open != 2 || st.AuthFailures["timeout"] != 0 {
			t.Fatalf("closed before the deadline: %+v", st)
		}
		ts.advance(1)
		expectCloseReason(t, late, 4401, "authentication timeout")
		authed.SendJSON(jsonOp("sub", "any", 2, nil))
		expectKV(t, authed.NextJSON(), "op", "ack", "id", 2)
		if n := ts.srv.Stats().AuthFailures["timeout"]; n != 1 {
			t.Fatalf("auth timeouts %d, want 1", n)
		}
	})
}

// At the token's expiry (exp plus the verifier's leeway) the connection is
// closed with 4401 "token expired", on the wheel; a refresh before it
// replaces the grant: new permissions from then on, the new expiry
// (later or sooner) in force.
func TestTokenExpiryAndRefresh(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		w := newWall()
		ts := startServer(t, engine, opts{manualClock: true, srv: withTokens(w)})
		leeway := int(gate.DefaultLeeway / time.Second)
		short := mint(t, claims(w, "u1", 10*time.Second, []string{"a"}, nil))
		expiring := ts.upgradeWith(t, "/ws", bearer(short))
		refreshed := ts.upgradeWith(t, "/ws", bearer(short))
		sooner := ts.upgradeWith(t, "/ws", bearer(mint(t, claims(w, "u1", time.Hour, []string{"*"}, nil))))

		// refreshed swaps a for b with an hour to go; sooner swaps an hour
		// for 2 s.
		refreshed.SendJSON(map[string]any{"op": "auth", "token": mint(t, claims(w, "u1", time.Hour, []string{"b"}, nil)), "id": 1})
		expectKV(t, refreshed.NextJSON(), "op", "ack", "id", 1)
		refreshed.SendJSON(jsonOp("sub", "a", 2, nil))
		expectKV(t, refreshed.NextJSON(), "op", "err", "id", 2, "code", 403)
		refreshed.SendJSON(jsonOp("sub", "b", 3, nil))
		expectKV(t, refreshed.NextJSON(), "op", "ack", "id", 3)
		sooner.SendJSON(map[string]any{"op": "auth", "token": mint(t, claims(w, "u1", 2*time.Second, []string{"*"}, nil)), "id": 1})
		expectKV(t, sooner.NextJSON(), "op", "ack", "id", 1)

		ts.advance(2 + leeway)
		expectCloseReason(t, sooner, 4401, "token expired")
		ts.advance(10 - 2 - 1)
		ts.srv.Hub().Flush()
		if st := ts.srv.Stats(); st.Open != 2 || st.TokenExpiries != 1 {
			t.Fatalf("before expiry: open %d, expiries %d", st.Open, st.TokenExpiries)
		}
		ts.advance(1)
		expectCloseReason(t, expiring, 4401, "token expired")
		refreshed.SendJSON(jsonOp("sub", "b", 4, nil))
		expectKV(t, refreshed.NextJSON(), "op", "ack", "id", 4)
		wstest.WaitFor(t, "2 closes 4401 counted", func() bool { return ts.srv.Stats().Closes["server"][4401] == 2 })
		if n := ts.srv.Stats().TokenExpiries; n != 2 {
			t.Fatalf("expiries %d, want 2", n)
		}
	})
}

// A server with an RSA public key refuses an HS256 token signed with that
// key's PEM as the HMAC secret (algorithm confusion) and accepts RS256.
func TestTokenPublicKey(t *testing.T) {
	k := testRSAKey(t)
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	w := newWall()
	ts := startServer(t, "epoll", opts{manualClock: true, srv: func(c *server.Config) {
		v, err := gate.NewVerifier(gate.TokenConfig{PublicKey: &k.PublicKey, Leeway: gate.DefaultLeeway, Now: w.Now})
		if err != nil {
			t.Fatal(err)
		}
		c.Tokens, c.Now = v, w.Now
	}})
	ok := claims(w, "u1", time.Hour, []string{"*"}, nil)
	ts.upgradeWith(t, "/ws", bearer(signWith(t, jwt.SigningMethodRS256, k, ok)))
	r := request(wstest.Dial(t, ts.addr), upgradeReq("/ws", bearer(signWith(t, jwt.SigningMethodHS256, pemBytes, ok))))
	expectRefused(t, r, 401, "token algorithm not allowed")
}
