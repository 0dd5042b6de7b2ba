package shard

import (
	"testing"
	"time"
)

// TestFanoutAllocsPerRecipient: a publish may allocate its task (a
// constant), never anything per recipient. Measured as whole-program
// mallocs per publish+fan-out, so the workers' allocations count too.
func TestFanoutAllocsPerRecipient(t *testing.T) {
	measure := func(n int) float64 {
		done := make(chan struct{}, 1)
		h := newTestHub(t, Config{Shards: 2, OnFanout: func(time.Duration, int) { done <- struct{}{} }})
		ch := []byte("broadcast")
		for k := range n {
			subT(t, h, add(h, nullConn(), 0), "broadcast", Class(k%2))
		}
		h.Flush()
		b := both(make([]byte, 64), make([]byte, 64))
		pub := func() {
			h.Publish(ch, b)
			<-done
		}
		for range 20 {
			pub() // warm up: scratch slices reach their steady size
		}
		return testing.AllocsPerRun(50, pub)
	}
	small, big := measure(1000), measure(10000)
	t.Logf("allocs per publish: %.0f at 1,000 recipients, %.0f at 10,000", small, big)
	if small != big || big > 2 {
		t.Fatalf("allocs per publish %.0f (1k recipients) vs %.0f (10k): want equal and <= 2 "+
			"(hint: something in fanout/writeAll allocates per recipient or grows per publish)", small, big)
	}
}
