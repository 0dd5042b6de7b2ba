package poller

import (
	"runtime"
	"testing"
)

// TestConnTable1M registers, looks up and unregisters 1,000,000 synthetic
// records (no sockets) and reports the memory per registered connection:
// the Conn record plus its share of the fd-indexed table.
func TestConnTable1M(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates ~90 MB")
	}
	const n = 1_000_000
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	var tb connTable
	for fd := 0; fd < n; fd++ {
		c := newConn(fd, -1, true, 0)
		c.loop = uint8(fd)
		tb.put(fd, c)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	per := float64(m1.HeapAlloc-m0.HeapAlloc) / n
	t.Logf("%d entries: %.1f bytes per entry (Conn + table slot share; table len %d)", n, per, len(tb.s))
	if per > 128 {
		t.Errorf("%.1f bytes per registered connection, want <= 128", per)
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
	if tb.get(-1) != nil || tb.get(len(tb.s)+5) != nil {
		t.Fatal("out-of-range lookup not nil")
	}
	runtime.KeepAlive(tb)
}

func BenchmarkConnTableLookup(b *testing.B) {
	var tb connTable
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
