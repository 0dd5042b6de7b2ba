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
		h.Subscribe(h.Add(nullConn(), 0), ch, 0)
	}
	bld := &staticBuilder{f: Frames{make([]byte, size)}}
	b.ReportAllocs()
	b.SetBytes(n * size)
	b.ResetTimer()
	for range b.N {
		_, r := h.Publish(ch, bld)
		Sink += uint64(r)
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
		h.Subscribe(h.Add(nullConn(), 0), ch, 0)
	}
	bld := &staticBuilder{f: Frames{make([]byte, size)}}
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
	refs := make([]Ref, 1024)
	for i := range refs {
		refs[i] = h.Add(nullConn(), uint32(2+i%100))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		h.Arm(refs[i&1023], uint32(2+i%300))
	}
}

func BenchmarkLookup(b *testing.B) {
	h := newTestHub(b, Config{})
	refs := make([]Ref, 1024)
	chans := make([][]byte, 1024)
	for i := range refs {
		refs[i] = h.Add(nullConn(), 0)
		chans[i] = fmt.Appendf(nil, "room-%d", i)
		h.Subscribe(refs[i], chans[i], 0)
	}
	b.Run("conn", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			if h.Conn(refs[i&1023]) != nil {
				Sink++
			}
		}
	})
	b.Run("channel", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			Sink += h.Offset(chans[i&1023])
		}
	})
}

func BenchmarkPublishNoSubs(b *testing.B) {
	h := newTestHub(b, Config{})
	ch := []byte("nobody-listens")
	bld := &staticBuilder{f: Frames{make([]byte, 64)}}
	b.ReportAllocs()
	b.SetBytes(64)
	for range b.N {
		off, _ := h.Publish(ch, bld)
		Sink += off
	}
}
