package bench

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/starling-ws/starling/bench/procstat"
)

// Sample is one look at a process and the kernel (bench/procstat), plus the
// server's Go heap from its /metrics.
type Sample struct {
	At         time.Time
	RSS        int64   // resident bytes of the process (statm)
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

// slabCaches are the caches one TCP connection's kernel side lives in.
var slabCaches = []string{"TCP", "TCPv6", "sock_inode_cache", "dentry", "filp", "eventpoll_epi", "eventpoll_pwq", "request_sock_TCP", "tw_sock_TCP", "skbuff_head_cache", "kmalloc-rcl-64", "kmalloc-64", "kmalloc-192", "kmalloc-256", "kmalloc-512", "kmalloc-1k", "kmalloc-2k", "kmalloc-4k", "kmalloc-8k", "pid", "inode_cache"}

// sockCaches hold one connection's kernel objects: the TCP socket, its
// inode, dentry and file, the epoll item and wait-queue hook, and any
// queued skbs. Counting only these keeps other processes' slab churn (the
// machine is shared) out of the per-connection figure; the generic kmalloc
// caches are left out for the same reason, so this slightly undercounts.
var sockCaches = []string{"TCP", "sock_inode_cache", "dentry", "filp", "eventpoll_epi", "eventpoll_pwq", "skbuff_head_cache", "skbuff_fclone_cache", "request_sock_TCP", "tw_sock_TCP"}

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
	if s.PID > 0 {
		p, err := procstat.ReadProc(s.PID)
		if err != nil {
			return sm, fmt.Errorf("sample: %w", err)
		}
		sm.RSS, sm.Threads, sm.FDs = p.RSS, p.Threads, p.FDs
		sm.CPU, sm.UserCPU = p.CPU(), p.UserCPU
	}
	if sl, err := procstat.Slabinfo(); err == nil {
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
	} else if mi, err := procstat.Meminfo(); err == nil {
		sm.Slab = mi.Slab
	}
	sm.TCPInUse, sm.TCPMem, _ = procstat.Sockstat()
	if s.MetricsURL != "" {
		sm.Heap = s.heap()
	}
	return sm, nil
}

// heap scrapes go_memstats_heap_inuse_bytes; -1 if it cannot.
func (s *Sampler) heap() int64 { return s.metric("go_memstats_heap_inuse_bytes") }

// metric scrapes an unlabelled gauge or counter; -1 if it cannot.
func (s *Sampler) metric(name string) int64 {
	if s.MetricsURL == "" {
		return -1
	}
	s.client.Timeout = 2 * time.Second
	resp, err := s.client.Get(s.MetricsURL)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return -1
	}
	return metricValue(io.LimitReader(resp.Body, 8<<20), name)
}

// metricValue is the value of an unlabelled gauge or counter in Prometheus
// text format; -1 if absent or unreadable.
func metricValue(r io.Reader, name string) int64 {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return -1
	}
	f := fams[name]
	if f == nil || len(f.GetMetric()) != 1 {
		return -1
	}
	switch m := f.GetMetric()[0]; {
	case m.GetGauge() != nil:
		return int64(m.GetGauge().GetValue())
	case m.GetCounter() != nil:
		return int64(m.GetCounter().GetValue())
	}
	return -1
}

// listenTrouble describes accept-queue overflows and SYN retransmits
// between two snapshots (system-wide: other traffic counts too).
func listenTrouble(a, b procstat.Listen) (string, map[string]float64) {
	d := procstat.Listen{Overflows: b.Overflows - a.Overflows, Drops: b.Drops - a.Drops,
		SynRetrans: b.SynRetrans - a.SynRetrans, SyncookiesSent: b.SyncookiesSent - a.SyncookiesSent}
	f := map[string]float64{"ListenOverflows": float64(d.Overflows), "ListenDrops": float64(d.Drops),
		"TCPSynRetrans": float64(d.SynRetrans), "SyncookiesSent": float64(d.SyncookiesSent)}
	return fmt.Sprintf("%d accept-queue overflows, %d listen drops, %d SYN retransmits, %d syncookies (system-wide /proc/net/netstat)",
		d.Overflows, d.Drops, d.SynRetrans, d.SyncookiesSent), f
}
