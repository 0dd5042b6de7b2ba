package shard

import (
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

func (f *firings) onTimer(c *poller.Conn, now uint32) {
	f.mu.Lock()
	f.got[c] = append(f.got[c], now)
	f.mu.Unlock()
}

func TestWheelFiresAtDue(t *testing.T) {
	clk := NewClock()
	f := &firings{got: map[*poller.Conn][]uint32{}}
	h := newTestHub(t, Config{Shards: 2, WheelSlots: 8, Clock: clk, OnTimer: f.onTimer})
	type entry struct {
		c    *poller.Conn
		r    Ref
		want []uint32
	}
	var es []*entry
	add := func(due uint32, want ...uint32) *entry {
		e := &entry{c: nullConn(), want: want}
		e.r = h.Add(e.c, due)
		es = append(es, e)
		return e
	}
	add(2, 2)
	add(9, 9)   // same bucket as 1 and 17 in an 8-slot wheel
	add(17, 17) // two turns away
	add(30, 30)
	add(0) // never armed
	rearmed := add(5, 12)
	h.Arm(rearmed.r, 12)
	disarmed := add(6)
	h.Arm(disarmed.r, 0)
	removed := add(4)
	h.Remove(removed.r)
	past := add(3, 3, 11) // re-armed into the past at tick 10: fires on the next tick
	for clk.Now() < 40 {
		now := clk.Advance()
		if now == 10 {
			h.Flush()
			h.Arm(past.r, 3)
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
		h.Add(c, due)
		want[c] = due
	}
	// Hold every shard's lock so the workers stall on their first tick
	// while 40 more pile up behind it.
	h.Start()
	for _, s := range h.shards {
		s.mu.Lock()
	}
	for range 40 {
		clk.Advance()
	}
	time.Sleep(10 * time.Millisecond)
	for _, s := range h.shards {
		s.mu.Unlock()
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
	h.Add(early, 3)
	h.Add(late, 500)
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
	r := h.Add(nullConn(), 5)
	due := uint32(2)
	allocs := testing.AllocsPerRun(1000, func() {
		due = due%500 + 2
		h.Arm(r, due)
	})
	if allocs != 0 {
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
