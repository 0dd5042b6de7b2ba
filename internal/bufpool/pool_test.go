package bufpool

import (
	"sync"
	"testing"
	"unsafe"
)

func TestGetSizes(t *testing.T) {
	for _, tc := range []struct{ n, cap int }{
		{-5, 256}, {0, 256}, {1, 256}, {256, 256}, {257, 512}, {4096, 4096}, {4097, 8192},
		{65535, 65536}, {MaxClass - 1, MaxClass}, {MaxClass, MaxClass}, {MaxClass + 1, MaxClass + 1},
	} {
		b := Get(tc.n)
		if len(b) != max(tc.n, 0) || cap(b) != tc.cap {
			t.Errorf("Get(%d): len %d cap %d, want len %d cap %d", tc.n, len(b), cap(b), max(tc.n, 0), tc.cap)
		}
		if c := Class(tc.n); c != tc.cap {
			t.Errorf("Class(%d) = %d, want %d", tc.n, c, tc.cap)
		}
		Put(b)
	}
}

// TestPutKeepsOnlyClasses: a buffer is reused only when its capacity is a
// class; an odd or oversized capacity is dropped, never handed out again
// with the wrong length.
func TestPutKeepsOnlyClasses(t *testing.T) {
	if raceEnabled {
		t.Skip("race builds drop pool items at random")
	}
	b := Get(1000)
	p := unsafe.SliceData(b)
	Put(b[:0])
	if q := unsafe.SliceData(Get(700)); q != p {
		t.Error("a class buffer was not reused by the next Get of its class")
	}
	odd := make([]byte, 0, 1500)
	Put(odd)
	if g := Get(1500); unsafe.SliceData(g) == unsafe.SliceData(odd) || cap(g) != 2048 {
		t.Errorf("odd capacity reached the pool: cap %d", cap(g))
	}
	big := Get(MaxClass + 10)
	Put(big)
	if g := Get(MaxClass + 10); unsafe.SliceData(g) == unsafe.SliceData(big) {
		t.Error("a buffer above MaxClass was pooled")
	}
}

// TestZeroAllocs: Put never allocates, and Get from a warm class does not.
func TestZeroAllocs(t *testing.T) {
	for _, n := range []int{10, 300, 5000, 70000, MaxClass} {
		b := Get(n)
		Put(b)
		if a := testing.AllocsPerRun(100, func() { Put(b); b = Get(n) }); a != 0 && !raceEnabled {
			t.Errorf("Get/Put of %d: %.1f allocs, want 0", n, a)
		}
		x := make([]byte, Class(n))
		if a := testing.AllocsPerRun(100, func() { Put(x) }); a != 0 {
			t.Errorf("Put of class %d: %.1f allocs, want 0", Class(n), a)
		}
	}
}

// TestConcurrent: buffers handed out at once are never shared.
func TestConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				b := Get(100 + (i*37)%3000)
				for j := range b {
					b[j] = byte(w)
				}
				for j := range b {
					if b[j] != byte(w) {
						t.Errorf("buffer shared between goroutines")
						return
					}
				}
				Put(b)
			}
		}(w)
	}
	wg.Wait()
}

func BenchmarkGetPut(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		Put(Get(1500))
	}
}
