package shard

import (
	"runtime"
	"testing"
	"time"

	"github.com/starling-ws/starling/poller"
)

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestMillionEntries registers 1,000,000 socketless connections (distinct
// Conns over /dev/null), fires every wheel entry once at its own tick,
// subscribes all of them to one channel, publishes once, and removes them,
// measuring the heap cost of a table entry and of a subscription.
func TestMillionEntries(t *testing.T) {
	if testing.Short() {
		t.Skip("1M entries")
	}
	const (
		n             = 1_000_000
		spread        = 200 // dues 2..201 over a 64-slot wheel: three turns
		maxEntryBytes = 96
		maxSubBytes   = 64
	)
	type fired struct{ count, at uint32 }
	state := make([]fired, n)
	conns := make([]*poller.Conn, n)
	for i := range conns {
		conns[i] = nullConn()
		conns[i].Ctx = &state[i]
	}
	refs := make([]Ref, n)
	clk := NewClock()
	h := newTestHub(t, Config{Shards: 2, WheelSlots: 64, Clock: clk, OnTimer: func(c *poller.Conn, now uint32) {
		s := c.Ctx.(*fired)
		s.count++
		s.at = now
	}})

	base := heapAlloc()
	start := time.Now()
	for i := range refs {
		refs[i] = h.Add(conns[i], 2+uint32(i%spread))
	}
	addTook := time.Since(start)
	perEntry := float64(heapAlloc()-base) / n

	start = time.Now()
	for clk.Now() < 2+spread+5 {
		clk.Advance()
	}
	h.Flush()
	wheelTook := time.Since(start)
	for i := range state {
		if state[i].count != 1 || state[i].at != 2+uint32(i%spread) {
			t.Fatalf("entry %d (due %d): fired %d times, last at %d", i, 2+i%spread, state[i].count, state[i].at)
		}
	}

	ch := []byte("everyone")
	before := heapAlloc()
	start = time.Now()
	for i, r := range refs {
		if !h.Subscribe(r, ch, uint8(i&1)) {
			t.Fatalf("subscribe %d failed", i)
		}
	}
	subTook := time.Since(start)
	perSub := float64(heapAlloc()-before) / n

	start = time.Now()
	off, rcpt := h.Publish(ch, &staticBuilder{f: Frames{make([]byte, 64), make([]byte, 64)}})
	h.Flush()
	pubTook := time.Since(start)
	if st := h.Stats(); off != 1 || rcpt != n || st.Deliveries != n || st.Subscriptions != n {
		t.Fatalf("publish to 1M: off %d recipients %d, stats %+v", off, rcpt, st)
	}

	start = time.Now()
	for _, r := range refs {
		h.Remove(r)
	}
	removeTook := time.Since(start)
	h.check(t)
	if st := h.Stats(); st.Conns != 0 || st.Subscriptions != 0 || st.Channels != 0 {
		t.Fatalf("after removing all: %+v", st)
	}
	left := float64(int64(heapAlloc())-int64(base)) / n

	t.Logf("N=%d: table+wheel %.1f B/entry, subscription %.1f B/sub, after Remove-all %.1f B/entry retained (free-listed slots)",
		n, perEntry, perSub, left)
	t.Logf("Add %v, 205 ticks firing 1M %v, Subscribe %v, publish to 1M %v, Remove %v",
		addTook, wheelTook, subTook, pubTook, removeTook)
	if perEntry > maxEntryBytes || perSub > maxSubBytes {
		t.Fatalf("memory: %.1f B/entry (max %d), %.1f B/sub (max %d)", perEntry, maxEntryBytes, perSub, maxSubBytes)
	}
	runtime.KeepAlive(conns)
}
