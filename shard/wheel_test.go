package shard

import (
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/starling-ws/starling/poller"
)

// firings records OnTimer calls per connection.
type firings struct {
	mu  sync.Mutex
	got map[*poller.Conn][]uint32
}

func (f *firings) onTimer(c *poller.Conn, now uint32) uint32 {
	f.mu.Lock()
	f.got[c] = append(f.got[c], now)
	f.mu.Unlock()
	return 0
}

func TestWheelFiresAtDue(t *testing.T) {
	clk := NewClock()
	f := &firings{got: map[*poller.Conn][]uint32{}}
	h := newTestHub(t, Config{Shards: 2, WheelSlots: 8, Clock: clk, OnTimer: f.onTimer})
	type entry struct {
		c    *poller.Conn
		l    *Link
		want []uint32
	}
	var es []*entry
	mk := func(due uint32, want ...uint32) *entry {
		e := &entry{c: nullConn(), want: want}
		e.l = add(h, e.c, due)
		es = append(es, e)
		return e
	}
	mk(2, 2)
	mk(9, 9)   // same bucket as 1 and 17 in an 8-slot wheel
	mk(17, 17) // two turns away
	mk(30, 30)
	mk(0) // never armed
	rearmed := mk(5, 12)
	h.Arm(rearmed.l, 12)
	disarmed := mk(6)
	h.Arm(disarmed.l, 0)
	removed := mk(4)
	h.Remove(removed.l)
	past := mk(3, 3, 11) // re-armed into the past at tick 10: fires on the next tick
	for clk.Now() < 40 {
		now := clk.Advance()
		if now == 10 {
			h.Flush()
			h.Arm(past.l, 3)
		}
	}
	h.Flush()
	h.check(t)
	for _, e := range es {
		got := f.got[e.c]
		if !slices.Equal(got, e.want) {
			t.Errorf("entry %p: fired at %v, want %v", e.c, got, e.want)
		}
	}
}

// TestWheelLateWorker queues many ticks before the workers run: none may be
// lost, and each entry still fires at its own tick.
func TestWheelLateWorker(t *testing.T) {
	clk := NewClock()
	f := &firings{got: map[*poller.Conn][]uint32{}}
	var lags atomic.Int64
	h, err := New(Config{Shards: 2, WheelSlots: 4, Clock: clk, OnTimer: f.onTimer,
		OnTickLag: func(d time.Duration) {
			if d < 0 {
				t.Errorf("negative tick lag %v", d)
			}
			lags.Add(1)
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	want := map[*poller.Conn]uint32{}
	for due := uint32(2); due < 30; due++ {
		c := nullConn()
		add(h, c, due)
		want[c] = due
	}
	// Stall both workers inside a write(2) to a peer that does not read yet,
	// so that 40 ticks pile up in their inboxes behind it.
	h.Start()
	var readers []*os.File
	for range 2 {
		c, r := sockConn(t, 0, false)
		subT(t, h, add(h, c, 0), "stall", 0)
		readers = append(readers, r)
	}
	h.Flush()
	if _, err := h.Publish([]byte("stall"), &staticPayload{f: [NClass][]byte{make([]byte, 4<<20)}}); err != nil {
		t.Fatal(err)
	}
	for range 40 {
		clk.Advance()
	}
	for _, r := range readers {
		go io.CopyN(io.Discard, r, 4<<20)
	}
	h.Flush()
	for c, due := range want {
		if got := f.got[c]; len(got) != 1 || got[0] != due {
			t.Errorf("due %d: fired at %v", due, got)
		}
	}
	if n := lags.Load(); n != 2*40 {
		t.Errorf("OnTickLag called %d times, want %d (per shard per tick)", n, 2*40)
	}
}

// TestWheelCatchUp: a hub attached after the clock ran ahead by more than a
// wheel turn sweeps everything due in one pass on its first tick.
func TestWheelCatchUp(t *testing.T) {
	clk := NewClock()
	f := &firings{got: map[*poller.Conn][]uint32{}}
	h, err := New(Config{Shards: 1, WheelSlots: 4, Clock: clk, OnTimer: f.onTimer})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	early, late := nullConn(), nullConn()
	add(h, early, 3)
	add(h, late, 500)
	for range 100 {
		clk.Advance() // not attached yet: the wheel stays at 1
	}
	h.Start()
	now := clk.Advance()
	h.Flush()
	if got := f.got[early]; len(got) != 1 || got[0] != now {
		t.Fatalf("overdue entry fired at %v, want once at %d", got, now)
	}
	if got := f.got[late]; len(got) != 0 {
		t.Fatalf("future entry fired at %v", got)
	}
	h.check(t)
}

func TestArmAllocs(t *testing.T) {
	h := newTestHub(t, Config{Shards: 1})
	l := add(h, nullConn(), 5)
	due := uint32(2)
	allocs := testing.AllocsPerRun(1000, func() {
		due = due%500 + 2
		h.Arm(l, due)
		if due%64 == 0 {
			h.Flush() // keep the inbox from growing: steady state reuses it
		}
	})
	if allocs > 0.1 { // the periodic Flush allocates its barrier (1 in 64 calls)
		t.Fatalf("Arm allocates %.1f times per call; want 0 (wheel links must stay intrusive int32 indices)", allocs)
	}
}

// TestClockTicks runs the real one-second ticker once.
func TestClockTicks(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a real one-second tick")
	}
	clk := NewClock()
	lag := make(chan time.Duration, 8)
	newTestHub(t, Config{Shards: 1, Clock: clk, OnTickLag: func(d time.Duration) {
		select {
		case lag <- d:
		default:
		}
	}})
	clk.Start()
	defer clk.Stop()
	select {
	case d := <-lag:
		if d < 0 || d > 500*time.Millisecond {
			t.Fatalf("tick lag %v on an idle hub", d)
		}
		t.Logf("first tick lag %v", d)
	case <-time.After(3 * time.Second):
		t.Fatalf("no tick within 3s; clock reads %d", clk.Now())
	}
	if clk.Now() < 2 {
		t.Fatalf("clock reads %d after a tick", clk.Now())
	}
	clk.Stop()
	clk.Stop()
	n := clk.Now()
	time.Sleep(1100 * time.Millisecond)
	if clk.Now() != n {
		t.Fatal("clock ticked after Stop")
	}
}

// TestTimerRearmsAhead: the next due a timer callback returns is armed at
// once, ahead of ticks already queued behind the one that fired it (a
// heartbeat due next tick must fire next tick, not a tick late).
func TestTimerRearmsAhead(t *testing.T) {
	clk := NewClock()
	var mu sync.Mutex
	var got []uint32
	h := newTestHub(t, Config{Shards: 1, Clock: clk, OnTimer: func(c *poller.Conn, now uint32) uint32 {
		mu.Lock()
		got = append(got, now)
		mu.Unlock()
		if now < 8 {
			return now + 1
		}
		return 0
	}})
	add(h, nullConn(), 2)
	h.Flush()
	for range 10 {
		clk.Advance() // all queued before the worker serves the first
	}
	h.Flush()
	if want := []uint32{2, 3, 4, 5, 6, 7, 8}; !slices.Equal(got, want) {
		t.Fatalf("fired at %v, want %v", got, want)
	}
}
