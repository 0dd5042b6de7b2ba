package bench

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/starling-ws/starling/bench/worker"
	"github.com/starling-ws/starling/gate"
)

// -tokens: once the session has given the workers the key, every dial of
// every worker (subscribers and publishers alike) upgrades with a token
// of its own that the gate accepts, each with a distinct sub.
func TestTokensOnEveryDial(t *testing.T) {
	srv := startWS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fl, err := worker.StartFleet(ctx, 41, 25)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Stop()
	secret := []byte("0123456789abcdef0123456789abcdef-bench-tokens")
	s := &session{t: &Target{Addr: srv.ln.Addr().String(), Path: "/ws"}, fl: fl, smp: &Sampler{PID: os.Getpid()},
		token: &worker.TokenSpec{Secret: secret, Exp: time.Now().Add(time.Hour).Unix()}}
	if err := s.giveTokens(ctx); err != nil {
		t.Fatal(err)
	}
	o := &Opts{Rate: 0}
	if _, err := s.dial(ctx, o, 40, worker.Cmd{Prefix: "t", Channels: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := fl.Procs[1].Call(ctx, worker.Cmd{Op: "dial", Addr: s.t.Addr, Path: s.t.Path, LAddrs: fl.Procs[1].LAddrs, N: 1, Pub: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := waitAdmitted(ctx, fl, 0, 41, "connect", nil); err != nil {
		t.Fatal(err)
	}
	v, err := gate.NewVerifier(gate.TokenConfig{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]bool{}
	srv.bearers.Range(func(k, _ any) bool {
		tok, ok := gate.BearerToken([]byte(k.(string)))
		g, err := v.Verify(tok)
		if !ok || err != nil {
			t.Errorf("Authorization %q: %v", k, err)
			return true
		}
		users[g.User()] = true
		return true
	})
	if len(users) != 41 {
		t.Fatalf("%d distinct users over 41 connections", len(users))
	}
	for u := range users {
		if !strings.HasPrefix(u, "w000-") && !strings.HasPrefix(u, "w001-") {
			t.Errorf("sub %q does not name its worker", u)
		}
	}
}
