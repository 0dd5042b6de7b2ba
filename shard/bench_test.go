package shard

import (
	"fmt"
	"testing"
	"time"
)

// Sink keeps benchmark results alive.
var Sink uint64

func BenchmarkFanout10k(b *testing.B) {
	const n, size = 10_000, 64
	done := make(chan struct{}, 1)
	h := newTestHub(b, Config{OnFanout: func(time.Duration, int) { done <- struct{}{} }})
	ch := []byte("broadcast")
	for range n {
		subT(b, h, add(h, nullConn(), 0), "broadcast", 0)
	}
	h.Flush()
	bld := &staticPayload{f: [NClass][]byte{make([]byte, size)}}
	b.ReportAllocs()
	b.SetBytes(n * size)
	b.ResetTimer()
	for range b.N {
		off, _ := h.Publish(ch, bld)
		Sink += off
		<-done
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/recipient")
}

// BenchmarkFanoutBurst16 publishes 16 frames back to back to one channel
// of 1,000 recipients: the workers merge them into one Writev per recipient.
func BenchmarkFanoutBurst16(b *testing.B) {
	const n, size, burst = 1000, 64, 16
	done := make(chan struct{}, burst)
	h := newTestHub(b, Config{OnFanout: func(time.Duration, int) { done <- struct{}{} }})
	ch := []byte("burst")
	for range n {
		subT(b, h, add(h, nullConn(), 0), "burst", 0)
	}
	h.Flush()
	bld := &staticPayload{f: [NClass][]byte{make([]byte, size)}}
	b.ReportAllocs()
	b.SetBytes(n * size * burst)
	b.ResetTimer()
	for range b.N {
		for range burst {
			h.Publish(ch, bld)
		}
		for range burst {
			<-done
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(n*burst), "ns/delivery")
}

func BenchmarkWheelRearm(b *testing.B) {
	h := newTestHub(b, Config{Shards: 1})
	links := make([]*Link, 1024)
	for i := range links {
		links[i] = add(h, nullConn(), uint32(2+i%100))
	}
	h.Flush()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		h.Arm(links[i&1023], uint32(2+i%300))
		if i&1023 == 1023 {
			h.Flush() // the cost of serving the requests is part of the figure
		}
	}
	h.Flush()
}

func BenchmarkLookup(b *testing.B) {
	h := newTestHub(b, Config{})
	chans := make([][]byte, 1024)
	for i := range chans {
		chans[i] = fmt.Appendf(nil, "room-%d", i)
		subT(b, h, add(h, nullConn(), 0), string(chans[i]), 0)
	}
	h.Flush()
	b.Run("channel", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			pos, _ := h.Offset(chans[i&1023])
			Sink += pos.Off
		}
	})
}

func BenchmarkPublishNoSubs(b *testing.B) {
	h := newTestHub(b, Config{})
	ch := []byte("nobody-listens")
	bld := &staticPayload{f: [NClass][]byte{make([]byte, 64)}}
	b.ReportAllocs()
	b.SetBytes(64)
	for range b.N {
		off, _ := h.Publish(ch, bld)
		Sink += off
	}
}
