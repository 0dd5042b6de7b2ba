package server_test

import (
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"
)

// The idle cost of permessage-deflate (issue 12): N real connections, held
// idle by a client in another process, each run in a fresh server process
// (TestIdleGateCost's harness), with every connection having negotiated
// permessage-deflate ("deflate") and with none offering it ("open"). The
// negotiated state is one bit in the decoder's flags, and the compressors
// and inflaters are pooled, used only by publishes and compressed
// messages; so idle, both modes must cost the same.
//
// It is a measurement, not part of the default suite:
//
//	STARLING_IDLE_DEFLATE_N=19000 go test -run '^TestIdleDeflateCost$' -v -timeout 30m ./server/
//
// The assertion: compression negotiated keeps at most 16 B per idle
// connection (heap) over none.
func TestIdleDeflateCost(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("STARLING_IDLE_DEFLATE_N"))
	if n <= 0 {
		t.Skip("a measurement: set STARLING_IDLE_DEFLATE_N (e.g. 19000) to run it")
	}
	reps := 3
	if s := os.Getenv("STARLING_IDLE_DEFLATE_REPS"); s != "" {
		reps, _ = strconv.Atoi(s)
	}
	modes := []string{"open", "deflate"}
	heap, rss := map[string][]float64{}, map[string][]float64{}
	for r := 0; r < reps; r++ {
		for _, mode := range modes {
			h, m := idleServerProcess(t, mode, n)
			heap[mode], rss[mode] = append(heap[mode], h), append(rss[mode], m)
			t.Logf("run %d %-7s N=%d: heap %.1f B/conn, RSS %.1f B/conn", r+1, mode, n, h, m)
		}
	}
	med := func(v []float64) float64 { v = slices.Clone(v); slices.Sort(v); return v[len(v)/2] }
	for _, mode := range modes {
		t.Logf("median of %d, %-7s N=%d: heap %.1f B/conn, RSS %.1f B/conn", reps, mode, n, med(heap[mode]), med(rss[mode]))
	}
	dh, dr := med(heap["deflate"])-med(heap["open"]), med(rss["deflate"])-med(rss["open"])
	t.Logf("deflate - open: heap %+.1f B/conn, RSS %+.1f B/conn (GOMAXPROCS %d, %s)", dh, dr, runtime.GOMAXPROCS(0), time.Now().UTC().Format("2006-01-02"))
	if dh > 16 {
		t.Fatalf("permessage-deflate keeps %.1f B per idle connection over none (heap): more than 16", dh)
	}
}
