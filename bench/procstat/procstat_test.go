package procstat

import (
	"net"
	"os"
	"runtime"
	"testing"
)

// This process's own figures: the RSS grows by what it touches, the
// descriptor count follows an opened file, and the CPU only goes forward.
func TestReadProcSelf(t *testing.T) {
	a, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if a.RSS <= 0 || a.Threads < 1 || a.FDs < 3 || a.CPU() < 0 {
		t.Fatalf("implausible figures for this process: %+v", a)
	}
	ballast := make([]byte, 32<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(ballast)
	if b.RSS-a.RSS < 24<<20 {
		t.Errorf("RSS grew by %d B after touching 32 MiB", b.RSS-a.RSS)
	}
	if b.FDs != a.FDs+1 {
		t.Errorf("descriptors %d -> %d after opening one file", a.FDs, b.FDs)
	}
	if b.UserCPU < a.UserCPU || b.SysCPU < a.SysCPU {
		t.Errorf("CPU went backwards: %+v then %+v", a, b)
	}
	if _, err := ReadProc(1 << 30); err == nil {
		t.Error("no error for a pid that cannot exist")
	}
}

// A listener this test opens is found, and owned by this process; a
// port nothing listens on is an error.
func TestPIDListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	pid, err := PIDListening(port)
	if err != nil || pid != os.Getpid() {
		t.Fatalf("PIDListening(%d) = %d, %v; want %d", port, pid, err, os.Getpid())
	}
	ln.Close()
	if pid, err := PIDListening(port); err == nil {
		t.Fatalf("closed port %d still found, pid %d", port, pid)
	}
}

// An established TCP connection shows in sockstat's inuse count.
func TestSockstatCountsAConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	inuse, mem, err := Sockstat()
	if err != nil {
		t.Fatal(err)
	}
	// Three sockets of ours (listener, both ends): the namespace has at
	// least those; other processes may add more.
	if inuse < 3 || mem < 0 || mem%pageSize != 0 {
		t.Fatalf("sockstat TCP inuse %d mem %d", inuse, mem)
	}
}

func TestHostFigures(t *testing.T) {
	m, err := Meminfo()
	if err != nil {
		t.Fatal(err)
	}
	if m.Total < 64<<20 || m.Slab <= 0 || m.Slab >= m.Total {
		t.Fatalf("meminfo %+v", m)
	}
	if KernelRelease() == "" {
		t.Error("no kernel release")
	}
	if h := NoFileHard(); h == 0 || RaiseNoFile() != h {
		t.Errorf("RLIMIT_NOFILE hard %d, raised soft to %d", h, RaiseNoFile())
	}
	_ = CPUModel() // may be empty on some architectures' cpuinfo
	_ = ListenCounters()
	sl, err := Slabinfo()
	if os.IsPermission(err) {
		t.Skipf("slabinfo needs root: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, v := range sl {
		total += v
	}
	if _, ok := sl["TCP"]; !ok || total <= 0 || total > m.Total {
		t.Fatalf("slabinfo: no TCP cache among %d, all caches %d B", len(sl), total)
	}
}
