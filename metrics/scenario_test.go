package metrics_test

import (
	"github.com/starling-ws/starling/internal/wstest"

	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/starling-ws/starling/server"
)

// TestScrapeFollowsScenario drives a real server over loopback and checks
// that every counter a scrape shows moved exactly as the scenario did.
func TestScrapeFollowsScenario(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		// History off: a channel then ends with its last subscriber (with history
		// it would be kept -history-ttl, as docs/protocol.md says).
		r := startRig(t, engine, func(c *server.Config) { c.HistorySize = 0 })
		m := r.base + "/metrics"

		// Baseline: a fresh server exports every series at zero.
		f := scrape(t, m)
		for _, c := range []struct {
			name   string
			labels []string
		}{
			{"starling_connections", nil},
			{"starling_handshakes_accepted_total", nil},
			{"starling_handshakes_rejected_total", []string{"reason", "bad_version"}},
			{"starling_closes_total", []string{"code", "1000", "initiator", "client"}},
			{"starling_messages_received_total", nil},
			{"starling_outbound_queue_bytes", nil},
			{"starling_channels", nil},
			{"starling_fanout_duration_seconds", nil},
		} {
			if v := f.value(c.name, c.labels...); v != 0 {
				t.Fatalf("fresh server: %s%v = %v, want 0", c.name, c.labels, v)
			}
		}

		// N = 4 accepted; M = 3 rejected bad_version and 2 not_found.
		const accepted, badVersion, notFound = 4, 3, 2
		cl := make([]*wstest.Conn, accepted)
		for i := range cl {
			cl[i] = wstest.Dial(t, r.wsAddr).Upgrade()
		}
		for range badVersion {
			if code := wstest.Dial(t, r.wsAddr).Request("/ws", "8"); code != 426 {
				t.Fatalf("bad version: status %d, want 426", code)
			}
		}
		for range notFound {
			if code := wstest.Dial(t, r.wsAddr).Request("/nope", "13"); code != 404 {
				t.Fatalf("bad path: status %d, want 404", code)
			}
		}

		// Pub/sub: cl[0] subscribes, cl[1] publishes once.
		cl[0].SendText(`{"op":"sub","ch":"news","id":1}`)
		if _, ack := cl[0].NextData(); !strings.Contains(string(ack), "ack") {
			t.Fatalf("sub: got %s", ack)
		}
		cl[1].SendText(`{"op":"pub","ch":"news","data":"hello"}`)
		if _, msg := cl[0].NextData(); !strings.Contains(string(msg), "hello") {
			t.Fatalf("delivery: got %s", msg)
		}
		// A delivery is counted once its write returned, which can be just
		// after the subscriber read it.
		wstest.WaitFor(t, "delivery counted", func() bool { return r.srv.Hub().Stats().Deliveries >= 1 })

		f = scrape(t, m)
		want := func(name string, v float64, labels ...string) {
			t.Helper()
			if got := f.value(name, labels...); got != v {
				t.Errorf("%s%v = %v, want %v", name, labels, got, v)
			}
		}
		want("starling_connections", accepted)
		want("starling_handshakes_accepted_total", accepted)
		want("starling_handshakes_rejected_total", badVersion, "reason", "bad_version")
		want("starling_handshakes_rejected_total", notFound, "reason", "not_found")
		want("starling_handshakes_rejected_total", 0, "reason", "full")
		want("starling_tcp_accepted_total", accepted+badVersion+notFound)
		want("starling_messages_received_total", 2)
		want("starling_messages_sent_total", 1, "kind", "delivery")
		want("starling_messages_sent_total", 1, "kind", "reply")
		want("starling_publishes_total", 1)
		want("starling_publishes_fanned_out_total", 1)
		want("starling_channels", 1)
		want("starling_subscriptions", 1)
		want("starling_slow_consumers_closed_total", 0)
		want("starling_heartbeat_timeouts_total", 0)
		if got := f.sum("starling_shard_connections"); got < accepted {
			t.Errorf("sum of starling_shard_connections = %v, want >= %d", got, accepted)
		}
		if got := f.value("starling_received_bytes_total"); got <= 0 {
			t.Errorf("starling_received_bytes_total = %v, want > 0", got)
		}
		if got := f.value("starling_sent_bytes_total"); got <= 0 {
			t.Errorf("starling_sent_bytes_total = %v, want > 0", got)
		}
		// Exported; its value is not asserted here: the baseline is taken
		// when this rig's metrics were built, in a test process whose RSS
		// earlier tests already grew (TestMemoryFromProc checks the formula).
		if got := f.value("starling_memory_per_connection_bytes"); got < 0 {
			t.Errorf("starling_memory_per_connection_bytes missing")
		}
		if got := f.value("starling_kernel_tcp_memory_bytes"); got < 0 {
			t.Errorf("starling_kernel_tcp_memory_bytes missing")
		}
		// The fan-out hook runs after the last shard wrote the frame, which
		// may be just after the subscriber read it.
		wstest.WaitFor(t, "fan-out histogram to count the publish", func() bool {
			return scrape(t, m).value("starling_fanout_duration_seconds") == 1
		})
		wstest.WaitFor(t, "a wheel tick to be observed", func() bool {
			return scrape(t, m).value("starling_tick_lag_seconds") >= 1
		})

		// Closes: cl[0] closes normally (1000, client), cl[2] breaks the
		// protocol with an unmasked frame (1002, server), cl[3] drops TCP
		// without a close frame (1006, network). cl[1] stays.
		cl[0].Send(ws.OpClose, true, closeBody(ws.StatusNormalClosure))
		if code := cl[0].NextClose(); code != ws.StatusNormalClosure {
			t.Fatalf("close echo %d, want 1000", code)
		}
		cl[0].C.Close() // the server waits for the client to end TCP

		cl[2].Write([]byte{0x81, 0x02, 'h', 'i'}) // text, FIN, not masked
		if code := cl[2].NextClose(); code != ws.StatusProtocolError {
			t.Fatalf("unmasked frame: close %d, want 1002", code)
		}
		cl[2].Send(ws.OpClose, true, closeBody(ws.StatusProtocolError))
		cl[2].ExpectEOF()
		cl[2].C.Close()

		cl[3].C.Close()

		// A close is counted as the engine reports it; the shard forgets the
		// connection's subscriptions when its worker serves the removal.
		wstest.WaitFor(t, "three closes counted and their subscriptions gone", func() bool {
			f = scrape(t, m)
			return f.value("starling_connections") == 1 && f.sum("starling_closes_total") == 3 &&
				f.value("starling_subscriptions") == 0
		})
		want("starling_closes_total", 1, "code", "1000", "initiator", "client")
		want("starling_closes_total", 1, "code", "1002", "initiator", "server")
		want("starling_closes_total", 1, "code", "1006", "initiator", "network")
		want("starling_closes_total", 0, "code", "1000", "initiator", "server")
		want("starling_channels", 0)
		want("starling_subscriptions", 0)
		want("starling_handshakes_accepted_total", accepted)
		want("starling_ready", 1)
		want("starling_draining", 0)
	})
}

// TestLimitHitLogsAndCounts fills -max-conns and checks the 503 is counted
// as "full" and logged on its own line, once, however many are refused.
func TestLimitHitLogsAndCounts(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		r := startRig(t, engine, func(c *server.Config) { c.MaxConns = 2 })
		wstest.Dial(t, r.wsAddr).Upgrade()
		wstest.Dial(t, r.wsAddr).Upgrade()
		for range 3 {
			if code := wstest.Dial(t, r.wsAddr).Request("/ws", "13"); code != 503 {
				t.Fatalf("over the limit: status %d, want 503", code)
			}
		}
		f := scrape(t, r.base+"/metrics")
		if got := f.value("starling_handshakes_rejected_total", "reason", "full"); got != 3 {
			t.Fatalf("rejected{full} = %v, want 3", got)
		}
		logs := r.logs.String()
		if n := strings.Count(logs, "connection limit reached"); n != 1 {
			t.Fatalf("limit line logged %d times, want once (rate-limited):\n%s", n, logs)
		}
	})
}

// TestAdminEndpoints: /healthz, /readyz, pprof mounted only when asked.
func TestAdminEndpoints(t *testing.T) {
	r := startRig(t, "epoll", nil)
	if code, body := r.get(t, "/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := r.get(t, "/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	if code, _ := r.get(t, "/debug/pprof/"); code != 200 {
		t.Fatalf("/debug/pprof/ with pprof on: %d", code)
	}
	if code, _ := r.get(t, "/nope"); code != 404 {
		t.Fatalf("/nope: %d", code)
	}

	off, err := r.met.Serve("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	if code, _ := get(t, "http://"+off.Addr().String()+"/debug/pprof/"); code != 404 {
		t.Fatalf("/debug/pprof/ with pprof off: %d, want 404", code)
	}
	if code, _ := get(t, "http://"+off.Addr().String()+"/metrics"); code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
}

// TestReadyzFlipsBeforeConnectionsClose: BeginShutdown alone turns /readyz
// 503 while clients stay connected and untouched; the 1001 from Drain
// arrives only after, and /readyz is 503 at the moment it does.
func TestReadyzFlipsBeforeConnectionsClose(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		r := startRig(t, engine, nil)
		c := wstest.Dial(t, r.wsAddr).Upgrade()
		if code, body := r.get(t, "/readyz"); code != 200 {
			t.Fatalf("/readyz before shutdown: %d %q", code, body)
		}

		r.met.BeginShutdown()
		if code, body := r.get(t, "/readyz"); code != 503 || !strings.Contains(body, "shutting down") {
			t.Fatalf("/readyz after BeginShutdown: %d %q, want 503 shutting down", code, body)
		}
		// The client is still connected and has been sent nothing.
		c.C.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := c.BR.Peek(1); err == nil {
			t.Fatalf("client got %x before drain began", n)
		}
		if got := scrape(t, r.base+"/metrics").value("starling_connections"); got != 1 {
			t.Fatalf("starling_connections = %v during shutdown, before drain", got)
		}

		drained := make(chan error, 1)
		go func() {
			ctx, cancel := contextWithTimeout(5 * time.Second)
			defer cancel()
			drained <- r.srv.Drain(ctx)
		}()
		if code := c.NextClose(); code != ws.StatusGoingAway {
			t.Fatalf("drain close %d, want 1001", code)
		}
		// The connection is open (we have not answered the close yet).
		if code, _ := r.get(t, "/readyz"); code != 503 {
			t.Fatalf("/readyz when the 1001 arrived: %d, want 503", code)
		}
		c.Send(ws.OpClose, true, closeBody(ws.StatusGoingAway))
		c.ExpectEOF()
		c.C.Close()
		if err := <-drained; err != nil {
			t.Fatalf("drain: %v", err)
		}
		f := scrape(t, r.base+"/metrics")
		if got := f.value("starling_closes_total", "code", "1001", "initiator", "server"); got != 1 {
			t.Fatalf("closes{1001,server} = %v, want 1", got)
		}
		if got := f.value("starling_draining"); got != 1 {
			t.Fatalf("starling_draining = %v, want 1", got)
		}
	})
}

// TestMetricNamesLint runs client_golang's promlint (the Prometheus naming
// conventions: units, _total on counters, help text) over the exposition.
func TestMetricNamesLint(t *testing.T) {
	r := startRig(t, "epoll", nil)
	wstest.Dial(t, r.wsAddr).Upgrade()
	code, body := r.get(t, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
