package gate

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestPerIP(t *testing.T) {
	p, err := NewPerIP(2, 64)
	if err != nil {
		t.Fatal(err)
	}
	a := addr("127.0.0.2")
	s1, ok1 := p.Acquire(a)
	s2, ok2 := p.Acquire(addr("::ffff:127.0.0.2")) // the same address, mapped
	_, ok3 := p.Acquire(a)
	if !ok1 || !ok2 || ok3 || s1 != s2 {
		t.Fatalf("cap 2: %v %v %v, shared handle %v", ok1, ok2, ok3, s1 == s2)
	}
	if _, ok := p.Acquire(addr("127.0.0.3")); !ok {
		t.Fatal("another address is unaffected")
	}
	p.Release(s1)
	if s, ok := p.Acquire(a); !ok || s != s2 {
		t.Fatal("a released slot is reusable")
	}
	// IPv6 counts per /64.
	_, ok1 = p.Acquire(addr("2001:db8:0:1::1"))
	_, ok2 = p.Acquire(addr("2001:db8:0:1::2"))
	_, ok3 = p.Acquire(addr("2001:db8:0:1:ffff::3"))
	_, ok4 := p.Acquire(addr("2001:db8:0:2::1"))
	if !ok1 || !ok2 || ok3 || !ok4 {
		t.Fatalf("/64 grouping: %v %v %v %v", ok1, ok2, ok3, ok4)
	}
	if p.Count(addr("2001:db8:0:1::99")) != 2 {
		t.Fatal("Count by prefix")
	}
	off, _ := NewPerIP(0, 64)
	if s, ok := off.Acquire(a); s != nil || !ok {
		t.Fatal("cap 0 is off")
	}
	off.Release(nil)
	if _, err := NewPerIP(-1, 64); err == nil {
		t.Fatal("negative cap accepted")
	}
}

// TestPerIPBounded: the table holds only addresses with open connections,
// under concurrent churn from many addresses (run with -race).
func TestPerIPBounded(t *testing.T) {
	p, _ := NewPerIP(3, 64)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5000 {
				a := netip.AddrFrom4([4]byte{10, byte(g), byte(i >> 8), byte(i)})
				s, ok := p.Acquire(a)
				if !ok {
					panic(fmt.Sprintf("%v refused at first acquire", a))
				}
				if i%2 == 0 {
					p.Release(s)
				} else {
					defer p.Release(s)
				}
			}
		}()
	}
	wg.Wait()
	if n := p.Len(); n != 0 {
		t.Fatalf("%d entries left after every release", n)
	}
}

func TestPerIPZeroAllocHeld(t *testing.T) {
	p, _ := NewPerIP(1<<20, 64)
	a := addr("192.0.2.1")
	keep, _ := p.Acquire(a) // the entry exists: further connections cost nothing
	if n := testing.AllocsPerRun(1000, func() {
		s, _ := p.Acquire(a)
		p.Release(s)
	}); n != 0 {
		t.Errorf("%v allocs per Acquire+Release on an existing entry", n)
	}
	p.Release(keep)
}

func TestAcceptRate(t *testing.T) {
	a, err := NewAcceptRate(100, 10, DefaultMaxRetryAfter)
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	for i := range 10 {
		if ra := a.Admit(now); ra != 0 {
			t.Fatalf("burst %d refused", i)
		}
	}
	seen := map[int]int{}
	const refusals = 2000
	for range refusals {
		ra := a.Admit(now)
		// 2000 refusals at 100/s are booked over the 20 s the bucket
		// needs (the last ones jittered into the 21st).
		if ra < 1 || ra > 21 {
			t.Fatalf("Retry-After %d outside [1, 21]", ra)
		}
		seen[ra]++
	}
	for ra, n := range seen {
		if n > 100 {
			t.Fatalf("%d clients told to come back in %d s: more than the 100 a second admits (%v)", n, ra, seen)
		}
	}
	if len(seen) < 20 {
		t.Fatalf("only %d distinct Retry-After values over %d refusals: %v", len(seen), refusals, seen)
	}
	// A refusal a second later, in a quiet second, is booked after the
	// storm's clients, not among them.
	ra := 0
	for i := 0; ra == 0 && i < 200; i++ { // the refilled second's tokens first
		ra = a.Admit(now.Add(time.Second))
	}
	if ra < 18 {
		t.Fatalf("a refusal 1 s after 2000 were booked: Retry-After %d, want >= 18 (their seconds are full)", ra)
	}
	// Booked full for the whole window: the overflow is spread over it.
	c, _ := NewAcceptRate(1, 1, 2)
	c.Admit(now)
	for range 50 {
		if ra := c.Admit(now); ra < 1 || ra > 2 {
			t.Fatalf("overflow: Retry-After %d outside [1, 2]", ra)
		}
	}
	// Early refusals get short waits: the seconds ahead fill in order.
	b, _ := NewAcceptRate(100, 1, DefaultMaxRetryAfter)
	b.Admit(now)
	for range 100 {
		if ra := b.Admit(now); ra > 2 {
			t.Fatalf("first 100 refusals at 100/s: Retry-After %d > 2", ra)
		}
	}
	// Tokens refill with time; booked seconds pass.
	now = now.Add(50 * time.Millisecond)
	if ra := b.Admit(now); ra != 0 {
		t.Fatalf("after refill: %d", ra)
	}
	now = now.Add(time.Second)
	b.Admit(now)
	if ra := b.Admit(now); ra > 2 {
		t.Fatalf("new second: %d", ra)
	}
	// A clock before 1970 (an injected one) books like any other.
	d, _ := NewAcceptRate(1, 1, DefaultMaxRetryAfter)
	past := time.Unix(-1e9, 0)
	d.Admit(past)
	if ra := d.Admit(past); ra < 1 || ra > 2 {
		t.Fatalf("before 1970: Retry-After %d", ra)
	}
	if _, err := NewAcceptRate(1, 1, 3601); err == nil {
		t.Fatal("max Retry-After 3601 accepted")
	}
	var off *AcceptRate
	if off.Admit(now) != 0 {
		t.Fatal("nil AcceptRate admits")
	}
	for _, bad := range [][3]float64{{0, 1, 60}, {1, 0, 60}, {1, 1, 1}} {
		if _, err := NewAcceptRate(bad[0], int(bad[1]), int(bad[2])); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	tiny, _ := NewAcceptRate(1e-9, 1, 60)
	tiny.Admit(now)
	if ra := tiny.Admit(now); ra < 1 || ra > 60 {
		t.Fatalf("tiny rate: %d", ra)
	}
}

func BenchmarkPerIPAcquireRelease(b *testing.B) {
	p, _ := NewPerIP(1<<20, 64)
	a := netip.MustParseAddr("192.0.2.1")
	keep, _ := p.Acquire(a) // an address with a connection open: the common case
	defer p.Release(keep)
	b.ReportAllocs()
	for b.Loop() {
		s, _ := p.Acquire(a)
		p.Release(s)
	}
}

// Refusals from every event loop at once: no second is booked beyond what
// the bucket admits in it.
func TestAcceptRateConcurrent(t *testing.T) {
	a, _ := NewAcceptRate(50, 1, DefaultMaxRetryAfter)
	now := t0
	a.Admit(now)
	var mu sync.Mutex
	seen := map[int]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := map[int]int{}
			for range 250 {
				local[a.Admit(now)]++
			}
			mu.Lock()
			for k, v := range local {
				seen[k] += v
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	for ra, n := range seen {
		if ra < 1 || n > 50 {
			t.Fatalf("Retry-After %d given %d times (at most 50 a second): %v", ra, n, seen)
		}
	}
}
