package server

import (
	"runtime"
	"testing"
	"unsafe"

	"github.com/starling-ws/starling/gate"
)

// The session record is one allocation per connection. Before the gate it
// was 128 bytes (a size class of its own); the gate adds 20 bytes, 4 of
// them in what was tail padding, so it takes the 144-byte class: 16 bytes
// more per connection. An authenticated connection also holds its grant:
// one allocation of a 16-byte Grant followed by the user id's bytes (24 B
// for an id up to 8 bytes, 32 B up to 16; gate.TestGrantSizes); the
// permission set is shared. The idle figure with and without tokens is
// measured in idle_gate_test.go.
func TestSessionSize(t *testing.T) {
	if n := unsafe.Sizeof(session{}); n != 144 {
		t.Errorf("session is %d bytes, want 144", n)
	}
	if n := unsafe.Sizeof(gate.Grant{}); n != 16 {
		t.Errorf("gate.Grant is %d bytes, want 16", n)
	}
	// The session is allocated in a class of exactly its size: no waste.
	for _, sz := range []int{144} {
		if got := allocClass(t, sz); got != sz {
			t.Errorf("a %d-byte object takes %d bytes", sz, got)
		}
	}
	// The measure tells classes apart: one byte more is the 160-byte class.
	if got := allocClass(t, 145); got != 160 {
		t.Errorf("a 145-byte object measured %d bytes, want 160", got)
	}
}

// allocClass measures the bytes the allocator gives an object of size n
// (its size class): the smallest distance between consecutive objects
// that is common among many allocated in a row, which fill spans back to
// back. Free slots left in partly used spans by earlier tests give
// multiples of it, and other goroutines allocating meanwhile (a previous
// test's server shutting down) only add outliers; TotalAlloc divided by a
// count would count their bytes.
func allocClass(t *testing.T, n int) int {
	t.Helper()
	const count = 4096
	runtime.GC()
	keep := make([]*byte, count)
	for i := range keep {
		b := make([]byte, n)
		keep[i] = &b[0]
	}
	seen := map[uintptr]int{}
	for i := 1; i < count; i++ {
		d := uintptr(unsafe.Pointer(keep[i])) - uintptr(unsafe.Pointer(keep[i-1]))
		if d > 0 && d <= uintptr(4*n) {
			seen[d]++
		}
	}
	runtime.KeepAlive(keep)
	best := 0
	for d, c := range seen {
		if c >= count/10 && (best == 0 || int(d) < best) {
			best = int(d)
		}
	}
	if best == 0 {
		t.Fatalf("no stride between %d-byte objects is common: %v", n, seen)
	}
	return best
}
