package stripe

import (
	"sync"
	"testing"
	"unsafe"
)

func TestCellPadding(t *testing.T) {
	if s := unsafe.Sizeof(cell{}); s != 128 {
		t.Fatalf("cell is %d bytes, want 128", s)
	}
	var c Counter
	if s := unsafe.Sizeof(c); s != Stripes*128 {
		t.Fatalf("Counter is %d bytes, want %d", s, Stripes*128)
	}
}

// TestConcurrentSum: many goroutines add and subtract under keys that
// collide and spread; the fold is exact once they are done.
func TestConcurrentSum(t *testing.T) {
	var c Counter
	var wg sync.WaitGroup
	const workers, rounds = 8, 10000
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				c.Add(w*7+i, 3)
				c.Add(i, -1)
			}
		}(w)
	}
	wg.Wait()
	if got, want := c.Load(), int64(workers*rounds*2); got != want {
		t.Fatalf("Load = %d, want %d", got, want)
	}
}

func TestNegativeKeyAndGauge(t *testing.T) {
	var c Counter
	c.Add(-1, 5) // a key is only a spreader: any int works
	c.Add(-1<<40, -2)
	if got := c.Load(); got != 3 {
		t.Fatalf("Load = %d, want 3", got)
	}
}

func TestAddAllocs(t *testing.T) {
	var c Counter
	if n := testing.AllocsPerRun(1000, func() { c.Add(42, 1) }); n != 0 {
		t.Fatalf("Add: %.1f allocs, want 0", n)
	}
}

func BenchmarkAddParallel(b *testing.B) {
	var c Counter
	var next int64
	var mu sync.Mutex
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		key := int(next)
		next++
		mu.Unlock()
		for pb.Next() {
			c.Add(key, 1)
		}
	})
	if c.Load() != int64(b.N) {
		b.Fatal("lost updates")
	}
}
