package bench

import (
	"fmt"
	"io"
	"math"
	"sort"
	"time"
)

// PlanInput is what the operator knows about the target host.
type PlanInput struct {
	RAM          int64         // bytes of RAM on the target
	Headroom     float64       // fraction of RAM kept for everything else (0..0.9)
	PingInterval time.Duration // server heartbeat period
	NoFile       int64         // LimitNOFILE the service will get
	Conntrack    int64         // nf_conntrack_max on the target; 0 = module not loaded
	ClientIPs    int64         // distinct source addresses clients dial from; 0 = many (internet)
	PortRange    [2]int64      // ip_local_port_range of the dialling side
	BusyFrac     float64       // fraction of connections with a full outbound queue
	MaxOutbound  int64         // per-connection outbound queue bound (poller MaxOutbound)
	MaxMessage   int64         // reassembly bound (server -max-message)
	MsgRate      float64       // deliveries per second expected at peak; 0 = unknown
}

// Limit is one ceiling on the connection count.
type Limit struct {
	Name   string
	Max    int64 // math.MaxInt64 means "not limiting"
	Reason string
}

// PlanResult is the answer: the count that fits, which limit binds, and
// what it takes.
type PlanResult struct {
	KernelBytes float64 // kernel part of IdleBytes (see plannedKernel)
	IdleBytes   float64 // per idle connection (profile)
	BusyBytes   float64 // per busy connection: idle + queue at bound + reassembly
	AvgBytes    float64 // mixed by BusyFrac
	Limits      []Limit // sorted, binding first
	Fit         int64
	Binding     string
	Sysctl      []SysctlReq
	PingsPerSec float64
	PingBytesPS float64 // both directions, wire bytes incl. TCP/IP headers
	PingCores   float64 // CPU cores for heartbeats; -1 if the profile has no per-ping figure
	MsgCores    float64 // CPU cores for MsgRate deliveries; -1 if unknown
}

// SysctlReq is one kernel setting the fitted count requires (the same
// formulas as scripts/sysctl.sh).
type SysctlReq struct{ Key, Value, Why string }

// Unlimited marks a limit that does not apply.
const Unlimited = math.MaxInt64

// Wire cost of one heartbeat: a 2-byte ping frame out, a 6-byte masked pong
// back (empty payloads), each in one TCP segment with 52 bytes of IPv4+TCP
// headers with timestamps, plus the ACKs that may piggyback or not (counted
// once each way).
const pingWireBytes = (2 + 52) + (6 + 52) + 2*52

// Plan computes the connection count that fits in and the binding limit.
// It takes every per-connection figure from p.
func Plan(in PlanInput, p *Profile) (PlanResult, error) {
	if err := p.Validate(); err != nil {
		return PlanResult{}, err
	}
	var r PlanResult
	r.KernelBytes = plannedKernel(p)
	r.IdleBytes = p.PerConn.TotalBytes - p.PerConn.KernelBytes + r.KernelBytes
	r.BusyBytes = r.IdleBytes + float64(in.MaxOutbound) + float64(in.MaxMessage)
	r.AvgBytes = r.IdleBytes*(1-in.BusyFrac) + r.BusyBytes*in.BusyFrac
	usable := float64(in.RAM) * (1 - in.Headroom)
	mem := int64(usable / r.AvgBytes)
	r.Limits = append(r.Limits, Limit{"memory", mem, fmt.Sprintf("%s usable (RAM x %.2f) / %s per connection", FmtBytes(usable), 1-in.Headroom, FmtBytes(r.AvgBytes))})
	fds := in.NoFile - reservedFDs
	if fds < 0 {
		fds = 0
	}
	r.Limits = append(r.Limits, Limit{"file descriptors", fds, fmt.Sprintf("LimitNOFILE %d - %d reserved (listeners, epoll, logs)", in.NoFile, reservedFDs)})
	if in.ClientIPs > 0 {
		w := in.PortRange[1] - in.PortRange[0] + 1
		r.Limits = append(r.Limits, Limit{"ports", in.ClientIPs * w, fmt.Sprintf("%d client addresses x %d local ports each", in.ClientIPs, w)})
	} else {
		r.Limits = append(r.Limits, Limit{"ports", Unlimited, "clients come from many addresses; a server binds no local port per connection"})
	}
	if in.Conntrack > 0 {
		r.Limits = append(r.Limits, Limit{"conntrack", in.Conntrack * 4 / 5, fmt.Sprintf("nf_conntrack_max %d, 20%% kept for churn/TIME_WAIT", in.Conntrack)})
	} else {
		r.Limits = append(r.Limits, Limit{"conntrack", Unlimited, "nf_conntrack not loaded"})
	}
	sort.SliceStable(r.Limits, func(i, j int) bool { return r.Limits[i].Max < r.Limits[j].Max })
	r.Fit, r.Binding = r.Limits[0].Max, r.Limits[0].Name
	r.Sysctl = SysctlFor(r.Fit)
	r.PingsPerSec = float64(r.Fit) / in.PingInterval.Seconds()
	r.PingBytesPS = r.PingsPerSec * pingWireBytes
	r.PingCores, r.MsgCores = -1, -1
	if p.PerPingCPUMicros > 0 {
		r.PingCores = r.PingsPerSec * p.PerPingCPUMicros / 1e6
	}
	if p.PerDeliveryCPUMicros > 0 && in.MsgRate > 0 {
		r.MsgCores = in.MsgRate * p.PerDeliveryCPUMicros / 1e6
	}
	return r, nil
}

// plannedKernel is the profile's kernel figure per connection, or, if
// larger, the all-caches slab delta of the runs at the profile's N: the
// socket caches miss the generic kmalloc objects a socket also owns, and a
// plan must not promise more than the machine showed.
func plannedKernel(p *Profile) float64 {
	var all []float64
	for _, pt := range p.Points {
		if pt.N == p.N && pt.N > 0 {
			all = append(all, float64(pt.SlabDelta+max(pt.TCPMemDelta, 0))/float64(2*pt.N))
		}
	}
	return max(p.PerConn.KernelBytes, median(all))
}

// reservedFDs are descriptors the server needs besides its connections.
const reservedFDs = 4096

// SysctlFor mirrors scripts/sysctl.sh's formulas (see the comments there for
// why each value is what it is).
func SysctlFor(n int64) []SysctlReq {
	clamp := func(v, lo, hi int64) int64 { return max(lo, min(v, hi)) }
	return []SysctlReq{
		{"fs.file-max", fmt.Sprint(n + 65536), "one file per socket + 64Ki for the rest of the host"},
		{"fs.nr_open", fmt.Sprint(n + reservedFDs), "LimitNOFILE may not exceed it"},
		{"net.core.somaxconn", fmt.Sprint(clamp(n/10, 4096, 65535)), "accept queue for a reconnect storm (~10% of N)"},
		{"net.ipv4.tcp_max_syn_backlog", fmt.Sprint(clamp(n/10, 1024, 65535)), "half-open queue for the same storm"},
		{"net.ipv4.tcp_mem", fmt.Sprintf("pressure >= %d, max >= %d pages", n, 2*n), "each socket squeezed to 4 KiB rmem + 4 KiB wmem"},
		{"net.ipv4.tcp_rmem / tcp_wmem", "min <= 4096", "the floor the tcp_mem budget assumes"},
		{"net.core.netdev_max_backlog", fmt.Sprint(clamp(n/32, 1000, 65536)), "per-CPU packet queue during a fan-out burst"},
		{"net.netfilter.nf_conntrack_max", fmt.Sprintf("%d (if loaded)", n+n/4), "one entry per connection + 25% churn"},
	}
}

// WritePlan prints r for a person.
func WritePlan(w io.Writer, in PlanInput, p *Profile, path string, r PlanResult) {
	fmt.Fprintf(w, "profile: %s (engine %s, measured at N=%d on %s, commit %s; %d CPUs, %s RAM, kernel %s)\n",
		path, p.Engine, p.N, p.Date, p.GitCommit, p.Machine.CPUs, FmtBytes(float64(p.Machine.MemTotal)), p.Machine.Kernel)
	fmt.Fprintf(w, "per connection: idle %s (kernel %s + user %s); busy %s (+ queue bound %s + reassembly %s); planned at %.1f%% busy: %s\n",
		FmtBytes(r.IdleBytes), FmtBytes(r.KernelBytes), FmtBytes(p.PerConn.UserBytes), FmtBytes(r.BusyBytes),
		FmtBytes(float64(in.MaxOutbound)), FmtBytes(float64(in.MaxMessage)), in.BusyFrac*100, FmtBytes(r.AvgBytes))
	fmt.Fprintf(w, "\nlimits (binding first):\n")
	for _, l := range r.Limits {
		m := "not limiting"
		if l.Max != Unlimited {
			m = fmtCount(l.Max)
		}
		fmt.Fprintf(w, "  %-17s %14s  %s\n", l.Name, m, l.Reason)
	}
	fmt.Fprintf(w, "\nfits: %s connections on %s RAM; binding limit: %s\n", fmtCount(r.Fit), FmtBytes(float64(in.RAM)), r.Binding)
	fmt.Fprintf(w, "\nsysctl for %s connections (apply with scripts/sysctl.sh apply --conns %d):\n", fmtCount(r.Fit), r.Fit)
	for _, s := range r.Sysctl {
		fmt.Fprintf(w, "  %-31s %-34s # %s\n", s.Key, s.Value, s.Why)
	}
	fmt.Fprintf(w, "  LimitNOFILE                     %-34d # systemd unit (scripts/starling.service)\n", r.Fit+reservedFDs)
	fmt.Fprintf(w, "\nheartbeat at -ping-interval %v: %.0f pings/s, ~%s/s on the wire (both ways)", in.PingInterval, r.PingsPerSec, FmtBytes(r.PingBytesPS))
	if r.PingCores >= 0 {
		fmt.Fprintf(w, ", ~%.3f CPU cores (%.2f us per ping+pong measured)\n", r.PingCores, p.PerPingCPUMicros)
	} else {
		fmt.Fprintf(w, "; CPU unknown (profile has no per_ping_cpu_us)\n")
	}
	if in.MsgRate > 0 {
		if r.MsgCores >= 0 {
			fmt.Fprintf(w, "deliveries at %.0f/s: ~%.2f CPU cores (%.2f us per delivery measured at N=%d)\n", in.MsgRate, r.MsgCores, p.PerDeliveryCPUMicros, p.BroadcastN)
		} else {
			fmt.Fprintf(w, "deliveries at %.0f/s: CPU unknown (profile has no per_delivery_cpu_us; run bench broadcast -profile)\n", in.MsgRate)
		}
	}
}
