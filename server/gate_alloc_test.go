package server

import (
	"os"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/starling-ws/starling/gate"
	"github.com/starling-ws/starling/poller"
)

// The gate on the op path allocates nothing: the grant check before an
// op, a sub refused 403 and a pub refused 403 (its pattern check), and an
// op refused 401 before authentication. (Accepted subs and pubs allocate
// in the hub, as they did before the gate.)
func TestGateOpsAllocs(t *testing.T) {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	secret := []byte("0123456789abcdef0123456789abcdef-allocs")
	v, err := gate.NewVerifier(gate.TokenConfig{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u", "exp": time.Now().Add(time.Hour).Unix(),
		"ch": map[string]any{"sub": []string{"room.*"}, "pub": []string{"room.a"}}}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	g, err := v.Verify([]byte(tok))
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{cfg: Defaults()}
	authed := &session{pc: poller.NewTestConn(int(f.Fd()), 0), srv: s}
	authed.grant.Store(g)
	fresh := &session{pc: poller.NewTestConn(int(f.Fd()), 0), srv: s}
	for _, c := range []struct {
		name string
		ss   *session
		msg  string
	}{
		{"ping, authenticated", authed, `{"op":"ping","id":1}`},
		{"sub outside ch.sub: 403", authed, `{"op":"sub","ch":"secret","id":2}`},
		{"pub outside ch.pub: 403", authed, `{"op":"pub","ch":"room.b","data":1,"id":3}`},
		{"sub before auth: 401", fresh, `{"op":"sub","ch":"room.b","id":1}`},
		{"ping before auth: 401", fresh, `{"op":"ping","id":2}`},
	} {
		p := []byte(c.msg)
		buf := make([]byte, len(p))
		if n := testing.AllocsPerRun(1000, func() {
			copy(buf, p)
			c.ss.Message(true, buf)
		}); n != 0 {
			t.Errorf("%s: %.1f allocations per op, want 0", c.name, n)
		}
	}
}
