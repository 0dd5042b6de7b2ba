package metrics

import (
	"io"
	"log/slog"
	"testing"
	"time"
)

// TestHooksDoNotAllocate: the fan-out and tick hooks run on shard workers
// (per publish, per shard per second) and must be allocation-free.
func TestHooksDoNotAllocate(t *testing.T) {
	m := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), SummaryEvery: -1})
	m.ObserveFanout(time.Millisecond, 10) // warm up
	m.ObserveTickLag(time.Millisecond)
	if n := testing.AllocsPerRun(1000, func() { m.ObserveFanout(123*time.Microsecond, 1000) }); n > 0 {
		t.Fatalf("ObserveFanout allocates %.1f per call; it runs once per publish: keep it to Histogram.Observe", n)
	}
	if n := testing.AllocsPerRun(1000, func() { m.ObserveTickLag(2 * time.Millisecond) }); n > 0 {
		t.Fatalf("ObserveTickLag allocates %.1f per call: keep it to Observe and atomic stores", n)
	}
}

func BenchmarkObserveFanout(b *testing.B) {
	m := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), SummaryEvery: -1})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveFanout(250*time.Microsecond, 100)
		}
	})
}
