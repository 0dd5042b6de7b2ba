package stripe

import "sync/atomic"

// Stripes is the number of cells per Counter. Contention falls with the
// ratio of goroutines counting at once (at most GOMAXPROCS) to Stripes, so
// 32 keeps collisions rare up to 16 busy cores while a Counter stays 4 KiB.
const Stripes = 32

// cell is one stripe on its own 128 bytes: two cache lines, because the
// adjacent-line prefetcher pulls lines in pairs.
type cell struct {
	v atomic.Int64
	_ [128 - 8]byte
}

// Counter is a striped int64. The zero value is ready. Add with a negative
// delta to use it as a gauge (queued bytes, open connections).
//
// The key picks the cell: pass something stable and spread that the caller
// already has, such as the connection's descriptor, so one connection's
// updates stay on one line and different connections' spread.
type Counter struct {
	c [Stripes]cell
}

// Add adds d to the cell of key.
func (s *Counter) Add(key int, d int64) { s.c[uint(key)%Stripes].v.Add(d) }

// Load folds the cells. Concurrent Adds may or may not be included.
func (s *Counter) Load() int64 {
	var sum int64
	for i := range s.c {
		sum += s.c[i].v.Load()
	}
	return sum
}
