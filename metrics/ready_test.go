package metrics

import (
	"strings"
	"testing"
	"time"
)

// TestReadinessRule walks the rule in ready.go step by step on a
// readiness with short thresholds (no server: draining is a test switch).
func TestReadinessRule(t *testing.T) {
	var r readiness
	r.init(400*time.Millisecond, 50*time.Millisecond)
	var clock int64 // manual monotonic clock, ns
	r.now = func() int64 { return clock }
	sleep := func(d time.Duration) { clock += int64(d) }
	draining := false
	r.draining = func() bool { return draining }

	f := func(wantOK bool, wantWhy string) {
		t.Helper()
		ok, why := r.check()
		if ok != wantOK || !strings.Contains(why, wantWhy) {
			t.Fatalf("check() = %v %q, want %v %q", ok, why, wantOK, wantWhy)
		}
	}
	f(false, "starting")
	r.attach()
	f(true, "")
	r.tick(time.Millisecond)
	f(true, "")

	// No tick for longer than StallAfter: stalled; a tick revives it.
	sleep(500 * time.Millisecond)
	f(false, "no wheel tick")
	r.tick(time.Millisecond)
	f(true, "")

	// A tick later than MaxTickLag: lagging for StallAfter, then ready.
	r.tick(80 * time.Millisecond)
	f(false, "80ms late")
	sleep(150 * time.Millisecond)
	r.tick(time.Millisecond)
	f(false, "late") // still within StallAfter of the late tick
	sleep(300 * time.Millisecond)
	r.tick(time.Millisecond)
	f(true, "")

	draining = true
	f(false, "draining")
	draining = false
	f(true, "")

	r.shutdown()
	r.tick(time.Millisecond)
	f(false, "shutting down")
}
