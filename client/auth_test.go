package client_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/starling-ws/starling/client"
	"github.com/starling-ws/starling/internal/testserver"
)

// jwtWithExp is a JWT-shaped token (unsigned: the test server runs open)
// whose payload says exp.
func jwtWithExp(exp time.Time, n int64) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." +
		enc.EncodeToString([]byte(fmt.Sprintf(`{"sub":"u%d","exp":%d}`, n, exp.Unix()))) + ".c2ln"
}

// waitDone waits for the client to stop by itself.
func waitDone(t *testing.T, c *client.Client) error {
	t.Helper()
	select {
	case <-c.Done():
		return c.Err()
	case <-time.After(20 * time.Second):
		t.Fatal("the client kept reconnecting")
		return nil
	}
}

// TestRefusedTokenStops: the server closes with 4401 right after each
// connection; the client fetches one fresh token, and when that one is
// refused too it stops instead of looping.
func TestRefusedTokenStops(t *testing.T) {
	ts := testserver.Start(t, "epoll", nil)
	var calls atomic.Int64
	rec := newRecorder()
	rec.hook = func(e client.Event) {
		if e.Kind == client.Connected {
			ts.CloseWith(4401, "token expired")
		}
	}
	c := connect(t, ts.URL, client.Options{
		OnEvent:  rec.on,
		GetToken: func(context.Context) (string, error) { return jwtWithExp(time.Now().Add(time.Hour), calls.Add(1)), nil },
	})
	err := waitDone(t, c)
	if !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("stopped with %v, want ErrUnauthorized", err)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("GetToken called %d times, want 2 (first, then once after the 4401)", n)
	}
	if n := len(rec.kind(client.Connected)); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
	for _, e := range rec.kind(client.Disconnected) {
		if e.Code != 4401 || e.Reason != "token expired" {
			t.Fatalf("disconnected %+v, want 4401 with the reason", e)
		}
	}
	if _, err := c.Subscribe(context.Background(), "x", func(client.Message) {}); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Subscribe on a stopped client: %v", err)
	}
}

// TestStaticTokenAnd4403Stop: without GetToken a 4401 is final at once;
// 4403 (disconnected by the API) is final whatever the token source.
func TestStaticTokenAnd4403Stop(t *testing.T) {
	for _, tc := range []struct {
		name     string
		code     uint16
		getToken bool
		want     error
	}{
		{"4401 static token", 4401, false, client.ErrUnauthorized},
		{"4403 with GetToken", 4403, true, client.ErrForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := testserver.Start(t, "epoll", nil)
			rec := newRecorder()
			rec.hook = func(e client.Event) {
				if e.Kind == client.Connected {
					ts.CloseWith(tc.code, "go away")
				}
			}
			o := client.Options{OnEvent: rec.on, Token: "static"}
			if tc.getToken {
				o.Token = ""
				o.GetToken = func(context.Context) (string, error) { return "t", nil }
			}
			c := connect(t, ts.URL, o)
			if err := waitDone(t, c); !errors.Is(err, tc.want) {
				t.Fatalf("stopped with %v, want %v", err, tc.want)
			}
			if n := len(rec.kind(client.Connected)); n != 1 {
				t.Fatalf("%d connections, want 1", n)
			}
			closed := rec.waitKind(t, client.Closed, 1)
			if closed[0].Code != int(tc.code) {
				t.Fatalf("closed event %+v", closed[0])
			}
		})
	}
}

// TestOtherCloseCodesReconnect: a close the client may retry (1012,
// service restart) is followed by a reconnect, not a stop.
func TestOtherCloseCodesReconnect(t *testing.T) {
	ts := testserver.Start(t, "epoll", nil)
	rec := newRecorder()
	var closes atomic.Int64
	rec.hook = func(e client.Event) {
		if e.Kind == client.Connected && closes.Add(1) <= 2 {
			ts.CloseWith(1012, "restart")
		}
	}
	c := connect(t, ts.URL, client.Options{OnEvent: rec.on, Token: "static"})
	rec.waitKind(t, client.Connected, 3)
	if c.Err() != nil {
		t.Fatalf("stopped: %v", c.Err())
	}
	for _, e := range rec.kind(client.Disconnected) {
		if e.Code != 1012 {
			t.Fatalf("disconnected %+v", e)
		}
	}
}

// TestTokenRefreshBeforeExp: a token that says exp is renewed through an
// auth op on the live connection before it expires; no reconnect.
func TestTokenRefreshBeforeExp(t *testing.T) {
	ts := testserver.Start(t, "epoll", nil)
	var calls atomic.Int64
	rec := newRecorder()
	c := connect(t, ts.URL, client.Options{
		OnEvent: rec.on,
		GetToken: func(context.Context) (string, error) {
			return jwtWithExp(time.Now().Add(2*time.Second), calls.Add(1)), nil
		},
	})
	rec.waitKind(t, client.Authenticated, 3) // on connect, then two refreshes
	if n := len(rec.kind(client.Connected)); n != 1 || len(rec.kind(client.Disconnected)) != 0 {
		t.Fatalf("refresh reconnected: %d connections", n)
	}
	if calls.Load() < 3 {
		t.Fatalf("GetToken called %d times", calls.Load())
	}
	_ = c
}

// TestNoPongReconnects: a peer that completes the handshake and then
// answers nothing is left after PingInterval + PongTimeout, and the client
// reconnects.
func TestNoPongReconnects(t *testing.T) {
	url, accepted := testserver.Silent(t)
	rec := newRecorder()
	connect(t, url, client.Options{OnEvent: rec.on,
		PingInterval: 100 * time.Millisecond, PongTimeout: 200 * time.Millisecond,
		Backoff: client.Backoff{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond}})
	evs := rec.waitKind(t, client.Disconnected, 2)
	for _, e := range evs {
		if e.Reason != "no pong within PongTimeout" {
			t.Fatalf("disconnected %+v", e)
		}
	}
	if accepted.Load() < 2 {
		t.Fatalf("%d connections", accepted.Load())
	}
}

// TestPingOpKeepsConnection: against the real server, a client whose
// PingInterval passes many times over sends the ping op, gets its pong,
// and never reconnects.
func TestPingOpKeepsConnection(t *testing.T) {
	ts := testserver.Start(t, "epoll", nil)
	rec := newRecorder()
	connect(t, ts.URL, client.Options{OnEvent: rec.on, PingInterval: 40 * time.Millisecond, PongTimeout: 2 * time.Second})
	rec.waitKind(t, client.Connected, 1)
	deadline := time.Now().Add(20 * time.Second)
	for ts.Srv.Stats().MessagesIn < 20 { // every message this client sends now is a ping
		if time.Now().After(deadline) {
			t.Fatalf("only %d pings in 20 s", ts.Srv.Stats().MessagesIn)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := rec.kind(client.Disconnected); len(d) != 0 {
		t.Fatalf("reconnected although the server answered every ping: %+v", d)
	}
}
