package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/starling-ws/starling/internal/natsrv"
	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/server"
)

// TestServeCluster: two `serve -nats` nodes as main wires them. A pub on
// one reaches a subscriber on the other with the publisher's offset;
// /readyz turns 503 with the bus's reason while NATS is down and 200 when
// it is back; /metrics has the bus's figures; SIGTERM (ctx) drains the
// clients, then the bus, then stops, and serve returns cleanly.
func TestServeCluster(t *testing.T) {
	ns, err := natsrv.Start(natsrv.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Stop()
	start := func() *running {
		r := runServe(t, "-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-nats", ns.URL(),
			"-nats-reconnect-wait", "50ms", "-drain-timeout", "3s", "-log-level", "info")
		m := regexp.MustCompile(`msg="admin listening" addr=(\S+)`).FindStringSubmatch(r.logs.String())
		if m == nil {
			t.Fatalf("no admin line:\n%s", r.logs)
		}
		r.admin = "http://" + m[1]
		return r
	}
	get := func(url string) (int, string) {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	a, b := start(), start()
	for _, n := range []*running{a, b} {
		wstest.WaitFor(t, "/readyz 200", func() bool { c, _ := get(n.admin + "/readyz"); return c == 200 })
	}
	sub := wstest.Dial(t, b.srv.Engine().Addr().String()).Upgrade()
	sub.SendText(`{"op":"sub","ch":"x","id":1}`)
	if m := sub.NextJSON(); m["op"] != "ack" {
		t.Fatalf("sub: %v", m)
	}
	pub := wstest.Dial(t, a.srv.Engine().Addr().String()).Upgrade()
	pub.SendText(`{"op":"pub","ch":"x","id":2,"data":"hi"}`)
	ack := pub.NextJSON()
	if m := sub.NextJSON(); m["op"] != "msg" || m["off"] != ack["off"] || m["data"] != "hi" {
		t.Fatalf("msg %v after ack %v", m, ack)
	}
	if _, body := get(a.admin + "/metrics"); !strings.Contains(body, "starling_cluster_publishes_total{outcome=\"acked\"} 1") ||
		!strings.Contains(body, "starling_cluster_publish_seconds_count 1") {
		t.Fatalf("metrics without the bus's figures:\n%s", grep(body, "starling_cluster_"))
	}
	ns.Stop()
	wstest.WaitFor(t, "/readyz 503 with NATS down", func() bool {
		c, body := get(a.admin + "/readyz")
		return c == 503 && strings.Contains(body, "cluster")
	})
	if err := ns.Restart(); err != nil {
		t.Fatal(err)
	}
	wstest.WaitFor(t, "/readyz 200 after NATS came back", func() bool { c, _ := get(a.admin + "/readyz"); return c == 200 })
	sub.C.Close()
	pub.C.Close()
	for _, n := range []*running{a, b} {
		n.stop(t)
	}
}

// running is a serve() of a test: its server once ready, its log, and how
// to stop it (the SIGTERM path).
type running struct {
	srv    *server.Server
	logs   *syncBuf
	admin  string
	cancel context.CancelFunc
	done   chan error
}

// runServe runs serve with args until the test ends (or stop).
func runServe(t *testing.T, args ...string) *running {
	t.Helper()
	cfg, err := parseServe(args)
	if err != nil {
		t.Fatal(err)
	}
	r := &running{logs: &syncBuf{}, done: make(chan error, 1)}
	log := slog.New(slog.NewTextHandler(r.logs, nil))
	cfg.server.Logger, cfg.engine.Logger = log, log
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	t.Cleanup(cancel)
	ready := make(chan *server.Server, 1)
	go func() { r.done <- serve(ctx, cfg, log, ready) }()
	select {
	case r.srv = <-ready:
	case err := <-r.done:
		t.Fatalf("serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}
	return r
}

// stop cancels serve (as SIGTERM does) and waits for it to return cleanly.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
