package metrics

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/procfs"
)

// kernelTCP reads sockstat through procfs; each case is a /proc of its own
// holding only net/sockstat.
func TestParseSockstatTCPMem(t *testing.T) {
	f := func(in string, want int64, wantErr string) {
		t.Helper()
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, "net"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "net", "sockstat"), []byte(in), 0o644); err != nil {
			t.Fatal(err)
		}
		fs, err := procfs.NewFS(root)
		if err != nil {
			t.Fatal(err)
		}
		m := memory{fs: fs, page: 4096}
		got, err := m.kernelTCP()
		switch {
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Fatalf("%q: err %v, want %q", in, err, wantErr)
		case wantErr == "" && err != nil:
			t.Fatalf("%q: %v", in, err)
		case got != want:
			t.Fatalf("%q: %d, want %d", in, got, want)
		}
	}
	f("sockets: used 30\nTCP: inuse 1 orphan 0 tw 0 alloc 1 mem 453\nUDP: inuse 0 mem 0\n", 453*4096, "")
	f("TCP: inuse 150000 orphan 2 tw 10 alloc 150010 mem 0", 0, "")
	f("UDP: inuse 0 mem 7\nTCP: inuse 1 mem 2\n", 2*4096, "") // UDP's mem is not TCP's
	f("sockets: used 30\n", 0, "no TCP line")
	f("TCP: inuse 1 orphan 0\n", 0, "no mem")
	f("TCP: inuse 1 mem x\n", 0, "sockstat TCP mem")
	f("", 0, "no TCP line")
}

func TestMemoryFromProc(t *testing.T) {
	var m memory
	m.init()
	if m.baseline <= 0 {
		t.Fatalf("baseline RSS %d, want > 0 (read from /proc/self/statm)", m.baseline)
	}
	if v, err := m.perConn(0); err != nil || v != 0 {
		t.Fatalf("perConn(0) = %v, %v; want 0 with no connections", v, err)
	}
	// Grow the RSS by touching 64 MiB, and check 1000 "connections" are
	// charged at least most of it each (the Go heap may hold more).
	ballast := make([]byte, 64<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	v, err := m.perConn(1000)
	if err != nil {
		t.Fatal(err)
	}
	if v < 48<<20/1000 {
		t.Fatalf("perConn(1000) = %.0f B after 64 MiB touched, want >= %d", v, 48<<20/1000)
	}
	Sink = ballast[len(ballast)-1]
	if _, err := m.kernelTCP(); err != nil {
		t.Fatalf("kernelTCP: %v", err)
	}
}

// Sink keeps benchmark and test results alive.
var Sink byte
