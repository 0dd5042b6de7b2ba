package metrics_test

import (
	"github.com/starling-ws/starling/internal/wstest"

	"strings"
	"testing"
	"time"

	"github.com/starling-ws/starling/metrics"
)

// TestReadyzStalledReactor: with the clock stopped no wheel tick runs, and
// /readyz turns 503 once StallAfter passes; ticks bring it back.
func TestReadyzStalledReactor(t *testing.T) {
	r := startRigOpts(t, "epoll", nil, metrics.Options{SummaryEvery: -1, StallAfter: 300 * time.Millisecond})
	wstest.WaitFor(t, "a first wheel tick", func() bool {
		return scrape(t, r.base+"/metrics").value("starling_tick_lag_seconds") >= 1
	})
	if code, body := r.get(t, "/readyz"); code != 200 {
		t.Fatalf("/readyz while ticking: %d %q", code, body)
	}
	r.clock.Stop()
	wstest.WaitFor(t, "/readyz to report the stall", func() bool {
		code, body := r.get(t, "/readyz")
		return code == 503 && strings.Contains(body, "no wheel tick")
	})
	if v := scrape(t, r.base+"/metrics").value("starling_ready"); v != 0 {
		t.Fatalf("starling_ready = %v while stalled", v)
	}
	r.clock.Start()
	wstest.WaitFor(t, "/readyz to recover once ticks run", func() bool {
		code, _ := r.get(t, "/readyz")
		return code == 200
	})
}

// TestSummaryLine: the periodic line carries the figures, one per period.
func TestSummaryLine(t *testing.T) {
	start := time.Now()
	r := startRigOpts(t, "epoll", nil, metrics.Options{SummaryEvery: 100 * time.Millisecond})
	wstest.Dial(t, r.wsAddr).Upgrade()
	wstest.Dial(t, r.wsAddr).Request("/nope", "13")
	wstest.WaitFor(t, "a summary line with the connection and the rejection", func() bool {
		logs := r.logs.String()
		return strings.Contains(logs, "msg=summary connections=1 ") && strings.Contains(logs, " rejected=1 ")
	})
	// One line per period: wait for a few, then there must not be more
	// than the time elapsed allows (however slow the machine was).
	wstest.WaitFor(t, "three summary lines", func() bool { return strings.Count(r.logs.String(), "msg=summary") >= 3 })
	n := strings.Count(r.logs.String(), "msg=summary")
	if most := int(time.Since(start)/(100*time.Millisecond)) + 1; n > most {
		t.Fatalf("%d summary lines in %v at one per 100ms", n, time.Since(start).Round(time.Millisecond))
	}
}
