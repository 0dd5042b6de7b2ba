package server_test

import (
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/poller"
	"github.com/starling-ws/starling/server"
	"github.com/starling-ws/starling/shard"
)

type testServer struct {
	srv   *server.Server
	clock *shard.Clock
	addr  string
	url   string
}

type opts struct {
	srv func(*server.Config)
	eng func(*poller.Config)
	// manualClock leaves the clock stopped: the test advances it.
	manualClock bool
}

// startServerB is startServer for benchmarks (default config, real clock).
func startServerB(b *testing.B, engine string) *testServer {
	b.Helper()
	eng, err := poller.New(engine, poller.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	clock := shard.NewClock()
	clock.Start()
	cfg := server.Defaults()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(cfg, eng, clock)
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close(); clock.Stop() })
	addr := eng.Addr().String()
	return &testServer{srv: srv, clock: clock, addr: addr, url: "ws://" + addr + cfg.Path}
}

func startServer(t testing.TB, engine string, o opts) *testServer {
	t.Helper()
	cfg := server.Defaults()
	if o.srv != nil {
		o.srv(&cfg)
	}
	ecfg := poller.Config{Addr: "127.0.0.1:0"}
	if o.eng != nil {
		o.eng(&ecfg)
	}
	eng, err := poller.New(engine, ecfg)
	if err != nil {
		t.Fatalf("engine %s: %v", engine, err)
	}
	clock := shard.NewClock()
	if !o.manualClock {
		clock.Start()
	}
	srv, err := server.New(cfg, eng, clock)
	if err != nil {
		t.Fatalf("server: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	addr := eng.Addr().String()
	t.Cleanup(func() {
		srv.Close()
		clock.Stop()
	})
	return &testServer{srv: srv, clock: clock, addr: addr, url: "ws://" + addr + cfg.Path}
}

// settle waits until the server has read every byte conns (the test's
// only clients) have sent, then until its shard workers have served what
// handling those bytes posted: a barrier on the server's state, not on time.
func (ts *testServer) settle(t *testing.T, conns ...*wstest.Conn) {
	t.Helper()
	var sent uint64
	for _, c := range conns {
		sent += uint64(c.Sent.Load())
	}
	wstest.WaitFor(t, "the server to read what the clients sent", func() bool { return ts.srv.Stats().BytesIn >= sent })
	ts.srv.Hub().Flush()
}

// advance ticks the manual clock n seconds.
func (ts *testServer) advance(n int) {
	for i := 0; i < n; i++ {
		ts.clock.Advance()
	}
}

func jsonOp(op, ch string, id any, data any) map[string]any {
	m := map[string]any{"op": op, "ch": ch}
	if id != nil {
		m["id"] = id
	}
	if data != nil {
		m["data"] = data
	}
	return m
}

func expectKV(t *testing.T, m map[string]any, kv ...any) {
	t.Helper()
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if got, want := fmt.Sprint(m[k]), fmt.Sprint(kv[i+1]); got != want {
			t.Fatalf("%s = %s, want %s (in %v)", k, got, want, m)
		}
	}
}
