package loadclient

import (
	"testing"
	"time"

	"github.com/starling-ws/starling/bench/worker"
	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/gate"
)

// TestTokenRequest: the upgrade request a -tokens connection sends parses
// as a valid upgrade whose bearer token the gate verifies with the same
// secret, with the sub the spec promises.
func TestTokenRequest(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef-bench")
	v, err := gate.NewVerifier(gate.TokenConfig{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	spec := &worker.TokenSpec{Secret: secret, SubPrefix: "w003-", Exp: time.Now().Add(time.Hour).Unix()}
	req, err := tokenRequest(upgradeRequest("127.0.0.1:1", "/ws", false), spec, 42)
	if err != nil {
		t.Fatal(err)
	}
	var u frame.Upgrade
	if n, rej := frame.ParseUpgrade(req, "/ws", &u); n != len(req) || rej != nil {
		t.Fatalf("parsed %d of %d bytes, reject %v:\n%s", n, len(req), rej, req)
	}
	tok, ok := gate.BearerToken(u.Authorization)
	if !ok {
		t.Fatalf("no bearer token in %q", u.Authorization)
	}
	g, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if g.User() != "w003-0000042" || !g.CanSub([]byte("any")) || !g.CanPub([]byte("any")) {
		t.Fatalf("grant: user %q, perms %v", g.User(), g.Perms())
	}
}
