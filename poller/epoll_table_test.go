//go:build linux

package poller

import (
	"runtime"
	"sync"
	"testing"
)

// TestConnTable1M registers, looks up and unregisters 1,000,000 synthetic
// records (no sockets) and reports the memory per registered connection:
// the Conn record plus its share of the fd table. Then it checks that the
// table gives its pages back as entries leave.
func TestConnTable1M(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates ~90 MB")
	}
	const n = 1_000_000
	var m0, m1, m2 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	tb := new(fdTable)
	for fd := 0; fd < n; fd++ {
		c := newConn(fd, -1, true, 0)
		c.loop = uint8(fd)
		if !tb.put(fd, c) {
			t.Fatalf("put %d refused", fd)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	per := float64(m1.HeapAlloc-m0.HeapAlloc) / n
	pages := int(tb.live.Load())
	tableBytes := float64(pages*fdPageSize*8) + float64(len(tb.pages)*12)
	t.Logf("%d entries: %.1f bytes per entry in all (Conn %d + table); table alone %.2f bytes per entry (%d pages of 8 KiB + 48 KiB directory)",
		n, per, 80, tableBytes/n, pages)
	if per > 96 {
		t.Errorf("%.1f bytes per registered connection, want <= 96", per)
	}
	if want := (n + fdPageSize - 1) / fdPageSize; pages != want {
		t.Errorf("%d pages for %d dense descriptors, want %d", pages, n, want)
	}
	for fd := 0; fd < n; fd++ {
		if c := tb.get(fd); c == nil || c.Fd() != fd {
			t.Fatalf("lookup %d: %v", fd, c)
		}
	}
	for fd := 0; fd < n; fd += 2 {
		tb.del(fd)
	}
	for fd := 0; fd < n; fd++ {
		if c := tb.get(fd); (c == nil) != (fd%2 == 0) {
			t.Fatalf("after unregister, lookup %d: %v", fd, c)
		}
	}
	if int(tb.live.Load()) != pages {
		t.Fatalf("pages freed while half their entries remain: %d of %d", tb.live.Load(), pages)
	}
	if tb.get(-1) != nil || tb.get(fdTableMax) != nil || tb.get(n+5) != nil {
		t.Fatal("out-of-range lookup not nil")
	}
	if tb.put(fdTableMax, newConn(0, -1, true, 0)) {
		t.Fatal("put beyond fdTableMax accepted")
	}
	// Close the top half: their pages go; then everything.
	for fd := n / 2; fd < n; fd++ {
		if fd%2 == 1 {
			tb.del(fd)
		}
	}
	if got, want := int(tb.live.Load()), (n/2+fdPageSize-1)/fdPageSize; got != want {
		t.Fatalf("%d pages after closing the top half, want %d", got, want)
	}
	for fd := 1; fd < n/2; fd += 2 {
		tb.del(fd)
	}
	if got := tb.live.Load(); got != 0 {
		t.Fatalf("%d pages left after every entry left", got)
	}
	runtime.GC()
	runtime.ReadMemStats(&m2)
	left := int64(m2.HeapAlloc) - int64(m0.HeapAlloc)
	t.Logf("after every entry left: heap %+d bytes against the start (table directory %d bytes)", left, len(tb.pages)*12)
	if left > 256<<10 {
		t.Errorf("heap did not shrink back: %+d bytes against the start", left)
	}
	runtime.KeepAlive(tb)
}

// TestFdTableLoopsRace plays several loops on one table: each owns the
// descriptors congruent to its index, puts, looks up and deletes them in a
// few shared pages so pages are freed and reallocated under the others'
// feet, and must always find its own entries and never another's. Run
// with -race.
func TestFdTableLoopsRace(t *testing.T) {
	const loops = 6
	const span = 3 * fdPageSize // three pages, all shared by every loop
	rounds := 300
	if testing.Short() {
		rounds = 50
	}
	tb := new(fdTable)
	var wg sync.WaitGroup
	errs := make(chan string, loops)
	for l := 0; l < loops; l++ {
		wg.Add(1)
		go func(l int) {
			defer wg.Done()
			var mine []*Conn
			for fd := l; fd < span; fd += loops {
				c := newConn(fd, -1, true, 0)
				c.loop = uint8(l)
				mine = append(mine, c)
			}
			for r := 0; r < rounds; r++ {
				// Register a varying share (none every fifth round), so
				// pages empty and refill.
				k := len(mine) * (r % 5) / 4
				for _, c := range mine[:k] {
					tb.put(c.Fd(), c)
				}
				for _, c := range mine[:k] {
					if got := tb.get(c.Fd()); got != c {
						errs <- "lookup of an own entry failed"
						return
					}
				}
				for _, c := range mine[:k] {
					tb.del(c.Fd())
				}
				for _, c := range mine[:k] {
					if got := tb.get(c.Fd()); got != nil {
						errs <- "a deleted entry is still found"
						return
					}
				}
			}
		}(l)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if n := tb.live.Load(); n != 0 {
		t.Fatalf("%d pages left after every entry left", n)
	}
	t.Logf("%d page allocations for 3 pages", tb.made.Load())
	if tb.made.Load() <= 3 {
		t.Errorf("pages were never freed and reallocated during the run (%d allocations)", tb.made.Load())
	}
}

func BenchmarkConnTableLookup(b *testing.B) {
	tb := new(fdTable)
	for fd := 0; fd < 20000; fd++ {
		tb.put(fd, newConn(fd, -1, true, 0))
	}
	b.ReportAllocs()
	var c *Conn
	for i := 0; i < b.N; i++ {
		c = tb.get(i % 20000)
	}
	Sink = c
}
