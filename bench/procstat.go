package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Sample is one look at a process and the kernel, all from /proc.
type Sample struct {
	At         time.Time
	RSS        int64   // VmRSS of the process, bytes
	CPU        float64 // utime+stime of the process, seconds
	UserCPU    float64 // utime alone: the process's user-space CPU, seconds
	Threads    int
	FDs        int   // open descriptors of the process
	Slab       int64 // system-wide slab bytes (slabinfo active objs x size, else meminfo Slab)
	SockSlab   int64 // the caches a TCP socket lives in (sockCaches); -1 without slabinfo
	SlabByName map[string]int64
	TCPInUse   int64 // sockstat TCP inuse
	TCPMem     int64 // sockstat TCP mem, bytes
	Heap       int64 // go_memstats_heap_inuse_bytes from /metrics; -1 if unavailable
}

var clkTck = 100.0 // USER_HZ; 100 on every Linux ABI Go supports

var pageSize = int64(os.Getpagesize())

// ReadMeminfo returns /proc/meminfo values in bytes.
func ReadMeminfo() (map[string]int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		if len(f) > 1 && f[1] == "kB" {
			n <<= 10
		}
		m[k] = n
	}
	return m, nil
}

// ProcCPU is utime+stime of pid in seconds, from /proc/<pid>/stat.
func ProcCPU(pid int) (float64, error) {
	u, s, err := ProcCPUSplit(pid)
	return u + s, err
}

// ProcCPUSplit is utime and stime of pid in seconds: user space (our code
// and the Go runtime) apart from the kernel's work on our behalf (send(2)).
func ProcCPUSplit(pid int) (user, sys float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// comm may hold spaces and parens: fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// after ')': state(0) ppid(1) ... utime is field 14 overall => index 11.
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return ut / clkTck, st / clkTck, nil
}

// procStatus reads VmRSS (bytes) and Threads from /proc/<pid>/status.
func procStatus(pid int) (rss int64, threads int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "VmRSS:"):
			f := strings.Fields(l[6:])
			if len(f) > 0 {
				rss, _ = strconv.ParseInt(f[0], 10, 64)
				rss <<= 10
			}
		case strings.HasPrefix(l, "Threads:"):
			threads, _ = strconv.Atoi(strings.TrimSpace(l[8:]))
		}
	}
	return rss, threads, nil
}

// Sockstat returns TCP inuse and TCP mem (bytes) from /proc/net/sockstat.
func Sockstat() (inuse, mem int64, err error) {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "TCP:") {
			continue
		}
		f := strings.Fields(l[4:])
		for i := 0; i+1 < len(f); i += 2 {
			v, _ := strconv.ParseInt(f[i+1], 10, 64)
			switch f[i] {
			case "inuse":
				inuse = v
			case "mem":
				mem = v * pageSize
			}
		}
	}
	return inuse, mem, nil
}

// slabCaches are the caches one TCP connection's kernel side lives in.
var slabCaches = []string{"TCP", "TCPv6", "sock_inode_cache", "dentry", "filp", "eventpoll_epi", "eventpoll_pwq", "request_sock_TCP", "tw_sock_TCP", "skbuff_head_cache", "kmalloc-rcl-64", "kmalloc-64", "kmalloc-192", "kmalloc-256", "kmalloc-512", "kmalloc-1k", "kmalloc-2k", "kmalloc-4k", "kmalloc-8k", "pid", "inode_cache"}

// sockCaches hold one connection's kernel objects: the TCP socket, its
// inode, dentry and file, the epoll item and wait-queue hook, and any
// queued skbs. Counting only these keeps other processes' slab churn (the
// machine is shared) out of the per-connection figure; the generic kmalloc
// caches are left out for the same reason, so this slightly undercounts.
var sockCaches = []string{"TCP", "sock_inode_cache", "dentry", "filp", "eventpoll_epi", "eventpoll_pwq", "skbuff_head_cache", "skbuff_fclone_cache", "request_sock_TCP", "tw_sock_TCP"}

// Slabinfo returns active bytes per cache from /proc/slabinfo (root only).
func Slabinfo() (map[string]int64, error) {
	f, err := os.Open("/proc/slabinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") || strings.HasPrefix(l, "slabinfo") {
			continue
		}
		fl := strings.Fields(l)
		if len(fl) < 4 {
			continue
		}
		active, _ := strconv.ParseInt(fl[1], 10, 64)
		size, _ := strconv.ParseInt(fl[3], 10, 64)
		m[fl[0]] = active * size
	}
	return m, sc.Err()
}

func countFDs(pid int) int {
	d, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(d)
}

// kernelDelta is the kernel memory the sockets added between two samples:
// socket slab caches (all slab without slabinfo) plus TCP buffer pages,
// the latter only if it grew (idle sockets hold none; a negative delta is
// other traffic draining).
func kernelDelta(a, b Sample) int64 {
	d := b.Slab - a.Slab
	if a.SockSlab >= 0 && b.SockSlab >= 0 {
		d = b.SockSlab - a.SockSlab
	}
	return d + max(b.TCPMem-a.TCPMem, 0)
}

// Sampler reads a process's figures, plus the admin /metrics heap gauge
// when a URL is known.
type Sampler struct {
	PID        int
	MetricsURL string // e.g. http://127.0.0.1:9090/metrics; "" if none
	client     http.Client
}

// Take samples now. Errors reading the process are returned; the kernel
// figures and heap are best-effort.
func (s *Sampler) Take() (Sample, error) {
	sm := Sample{At: time.Now(), Heap: -1, SockSlab: -1}
	var err error
	if s.PID > 0 {
		if sm.RSS, sm.Threads, err = procStatus(s.PID); err != nil {
			return sm, fmt.Errorf("sample pid %d: %w", s.PID, err)
		}
		u, sy, err := ProcCPUSplit(s.PID)
		if err != nil {
			return sm, fmt.Errorf("sample pid %d: %w", s.PID, err)
		}
		sm.CPU, sm.UserCPU = u+sy, u
		sm.FDs = countFDs(s.PID)
	}
	if sl, err := Slabinfo(); err == nil {
		sm.SlabByName = map[string]int64{}
		for _, k := range slabCaches {
			sm.SlabByName[k] = sl[k]
		}
		for _, v := range sl {
			sm.Slab += v
		}
		sm.SockSlab = 0
		for _, k := range sockCaches {
			sm.SockSlab += sl[k]
		}
	} else if mi, err := ReadMeminfo(); err == nil {
		sm.Slab = mi["Slab"]
	}
	sm.TCPInUse, sm.TCPMem, _ = Sockstat()
	if s.MetricsURL != "" {
		sm.Heap = s.heap()
	}
	return sm, nil
}

// heap scrapes go_memstats_heap_inuse_bytes; -1 if it cannot.
func (s *Sampler) heap() int64 {
	s.client.Timeout = 2 * time.Second
	resp, err := s.client.Get(s.MetricsURL)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil || resp.StatusCode != 200 {
		return -1
	}
	return metricValue(b, "go_memstats_heap_inuse_bytes")
}

// metricValue finds an unlabelled gauge in Prometheus text format.
func metricValue(b []byte, name string) int64 {
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, name) {
			continue
		}
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			if err == nil {
				return int64(v)
			}
		}
	}
	return -1
}

func noFileHard() uint64 {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 0
	}
	return rl.Max
}

// RaiseNoFile lifts the soft RLIMIT_NOFILE to the hard one and returns it.
func RaiseNoFile() uint64 {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 0
	}
	rl.Cur = rl.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	return rl.Cur
}

// TCPExt returns the /proc/net/netstat TcpExt counters (system-wide).
func TCPExt() map[string]int64 {
	b, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		return nil
	}
	ls := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(ls); i++ {
		if !strings.HasPrefix(ls[i], "TcpExt:") || !strings.HasPrefix(ls[i+1], "TcpExt:") {
			continue
		}
		k, v := strings.Fields(ls[i]), strings.Fields(ls[i+1])
		m := map[string]int64{}
		for j := 1; j < len(k) && j < len(v); j++ {
			m[k[j]], _ = strconv.ParseInt(v[j], 10, 64)
		}
		return m
	}
	return nil
}

// listenTrouble describes accept-queue overflows and SYN retransmits
// between two TCPExt snapshots (system-wide: other traffic counts too).
func listenTrouble(a, b map[string]int64) (string, map[string]float64) {
	f := map[string]float64{}
	for _, k := range []string{"ListenOverflows", "ListenDrops", "TCPSynRetrans", "SyncookiesSent"} {
		f[k] = float64(b[k] - a[k])
	}
	return fmt.Sprintf("%d accept-queue overflows, %d listen drops, %d SYN retransmits, %d syncookies (system-wide /proc/net/netstat)",
		b["ListenOverflows"]-a["ListenOverflows"], b["ListenDrops"]-a["ListenDrops"], b["TCPSynRetrans"]-a["TCPSynRetrans"], b["SyncookiesSent"]-a["SyncookiesSent"]), f
}
