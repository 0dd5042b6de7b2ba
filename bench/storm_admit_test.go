package bench

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/starling-ws/starling/bench/worker"
)

// The admission storm against the test server, which refuses every other
// upgrade with 503 and Retry-After: 1: every client retries after its
// Retry-After until admitted, the subscribers lose nothing, and the
// report counts the refusals and their one Retry-After value.
func TestAdmissionStormAgainstTestServer(t *testing.T) {
	srv := startWS(t)
	srv.refuseOdd.Store(true)
	o := &Opts{N: 60, StormM: 120, Rate: 0, PerWorker: 100, Duration: 4 * time.Second, Timeout: 40 * time.Second, PubRate: 50, Size: 64}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	fl, err := worker.StartFleet(ctx, o.N+o.StormM+1, o.PerWorker)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Stop()
	s := &session{t: &Target{Addr: srv.ln.Addr().String(), Path: "/ws"}, fl: fl, smp: &Sampler{PID: os.Getpid()}}
	r := newResult("storm", o.N)
	if err := admissionStorm(ctx, o, s, r, start); err != nil {
		t.Fatal(err)
	}
	f := r.Figures
	if f["admitted"] != 120 || f["refused_503"] < 1 || f["unexpected_closed"] != 0 || f["deliveries_lost"] != 0 || f["publishes_short"] != 0 {
		t.Fatalf("figures %v", f)
	}
	// Half the attempts are refused (the server alternates, so the retriers
	// of each second are halved: ~log2(M) s in all) and each refused client
	// waits its Retry-After (1 s) before the next: at least a second.
	if f["retry_after_distinct"] != 1 || f["retry_after_min_s"] != 1 || f["admit_all_s"] < 1 {
		t.Fatalf("Retry-After figures %v", f)
	}
	if int64(f["refused_503"]) > srv.refused.Load() {
		t.Fatalf("the clients counted %v refusals, the server sent %d", f["refused_503"], srv.refused.Load())
	}
	if r.Latency == nil || r.Latency.Count == 0 {
		t.Fatalf("no latency during the storm: %+v", r.Latency)
	}
	t.Logf("\n%s", tableOf(r))
}

func tableOf(r *Result) string {
	var b strings.Builder
	r.WriteTable(&b)
	return b.String()
}
