package metrics_test

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/starling-ws/starling/metrics"
	"github.com/starling-ws/starling/poller"
	"github.com/starling-ws/starling/shard"
)

// Sink keeps benchmark results alive.
var Sink uint64

// staticPayload hands out one prebuilt frame (a broadcast of one payload).
type staticPayload struct{ f []byte }

func (p *staticPayload) Frame(shard.Class, string, uint64) []byte { return p.f }
func (p *staticPayload) Size() int                                { return len(p.f) }

type noAck struct{}

func (noAck) BuildAck(shard.Position, bool, bool) []byte { return nil }

// BenchmarkBroadcast is the broadcast path (Publish -> every shard writes
// one prebuilt frame to each subscriber) with the metrics hooks off (nil
// OnFanout) and on (the fan-out histogram). Subscribers are engine-less
// test conns, each on its own dup of /dev/null so writes spread over the
// poller's stat stripes as real descriptors do. Each op is one publish
// waited for with Flush, identically in both modes; compare with benchstat:
//
//	go test -run '^$' -bench Broadcast -count 10 ./metrics | benchstat -col /metrics -
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{1, 100, 1000, 10000} {
		for _, on := range []bool{false, true} {
			name := fmt.Sprintf("subs=%d/metrics=%s", n, map[bool]string{false: "off", true: "on"}[on])
			b.Run(name, func(b *testing.B) { benchBroadcast(b, n, on) })
		}
	}
}

func benchBroadcast(b *testing.B, n int, on bool) {
	const size = 64
	cfg := shard.Config{Clock: shard.NewClock()}
	if on {
		m := metrics.New(metrics.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), SummaryEvery: -1})
		cfg.OnFanout = m.ObserveFanout
	}
	h, err := shard.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	h.Start()
	defer h.Stop()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer null.Close()
	ch := []byte("broadcast")
	links := make([]shard.Link, n)
	for i := range n {
		fd, err := syscall.Dup(int(null.Fd()))
		if err != nil {
			b.Fatalf("dup: %v", err)
		}
		defer syscall.Close(fd)
		h.Add(&links[i], poller.NewTestConn(fd, 0), 0)
		links[i].Reserve(1)
		h.Subscribe(&links[i], ch, 0, nil, noAck{})
	}
	bld := &staticPayload{f: make([]byte, size)}
	h.Publish(ch, bld) // warm the shards' scratch slices
	h.Flush()
	b.ReportAllocs()
	b.SetBytes(int64(n * size))
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		off, _ := h.Publish(ch, bld)
		Sink += off
		h.Flush()
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N)/float64(n), "ns/recipient")
}
