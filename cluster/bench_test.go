package cluster

import (
	"syscall"
	"testing"
	"time"

	"github.com/starling-ws/starling/frame"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var benchData = []byte(`{"text":"hello, this is a chat message of some length"}`)

// BenchmarkDeliverLocal is the baseline: a publish into this node's hub
// until its subscriber (a real socket) has the frame, one at a time.
// cpu-ns/op is the whole process's CPU per publish.
func BenchmarkDeliverLocal(b *testing.B) {
	h := newHub(b)
	s := subscribe(b, h, "bench", nil, nil)
	oneByOne(b, s, func() {
		if _, err := h.Publish([]byte("bench"), &testPayload{data: benchData, enc: frame.JSON}); err != nil {
			b.Fatal(err)
		}
	})
}

// oneByOne runs publish b.N times, each time until s has the frame, and
// reports the process's CPU per publish.
func oneByOne(b *testing.B, s *subscriber, publish func()) {
	b.ReportAllocs()
	cpu0 := cpuNow()
	b.ResetTimer()
	for range b.N {
		publish()
		<-s.notify
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuNow()-cpu0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkDeliverRemote: a publish on node A until node B's subscriber
// (a real socket on B's hub) has it, one at a time: the bus's latency
// (A -> NATS -> stream -> republish -> B -> hub -> socket). cpu-ns/op
// includes the embedded NATS server's CPU.
func BenchmarkDeliverRemote(b *testing.B) {
	ns := startNATS(b)
	cfg := testCfg(ns.url())
	cfg.Storage = Memory
	a, n := newNode(b, cfg), newNode(b, cfg)
	a.waitReady(b)
	n.waitReady(b)
	s := subscribe(b, n.hub, "bench", nil, nil)
	done := func(_ uint64, err error) {
		if err != nil {
			b.Error(err)
		}
	}
	oneByOne(b, s, func() {
		if err := a.bus.Publish([]byte("bench"), benchData, frame.JSON, done); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkDeliverRemotePipelined: b.N publishes in flight together on
// node A, until node B's subscriber has all: throughput and CPU per
// publish when the bus is busy.
func BenchmarkDeliverRemotePipelined(b *testing.B) {
	ns := startNATS(b)
	cfg := testCfg(ns.url())
	cfg.Storage = Memory
	cfg.HistorySize = 1 << 20
	a, n := newNode(b, cfg), newNode(b, cfg)
	a.waitReady(b)
	n.waitReady(b)
	s := subscribe(b, n.hub, "bench", nil, nil)
	slots := make(chan struct{}, 1024)
	done := func(_ uint64, err error) {
		if err != nil {
			b.Error(err)
		}
		<-slots
	}
	b.ReportAllocs()
	cpu0 := cpuNow()
	b.ResetTimer()
	all := make(chan struct{})
	go func() { // takes the tokens as they come (the buffer drops when full)
		for range b.N {
			<-s.notify
		}
		close(all)
	}()
	for range b.N {
		slots <- struct{}{}
		if err := a.bus.Publish([]byte("bench"), benchData, frame.JSON, done); err != nil {
			b.Fatal(err)
		}
	}
	<-all
	b.StopTimer()
	b.ReportMetric(float64(cpuNow()-cpu0)/float64(b.N), "cpu-ns/op")
}
