package plan

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/starling-ws/starling/frame"
)

// Input is what the operator knows about the target host.
type Input struct {
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

	SendBuffer    int64   // server -sndbuf (0: the kernel's autotuning, up to tcp_wmem's max)
	SubsPerConn   float64 // subscriptions per connection, on average
	OwnChanFrac   float64 // fraction of them on channels of their own (per-user channels) [0, 1]
	HistoryMemory int64   // server -history-memory: a fixed bound for all channels
	FanoutQueue   int64   // server -max-fanout-queue: a fixed bound for all shards
	MaxHandshakes int64   // server -max-handshakes: each may hold an 8 KiB request buffer
	Compress      bool    // server -compress: pooled compressors and inflaters (compress.go)
	Cores         int64   // GOMAXPROCS on the target: shards and event loops at their defaults

	Tokens     bool    // connections authenticate with tokens (gate.go: TokenBytes each)
	TokenOwnCh float64 // fraction of them whose ch claim is their own (PermSetBytes each) [0, 1]
	PerIP      bool    // the server counts connections per client address (-max-conns-per-ip)

	// A cluster node (-nats): the bus's bounds, fixed too (BusBytes).
	Cluster     bool
	BusInflight int64 // -nats-max-inflight: each holds a copy of its data (<= -max-message) + ~200 B
	BusPending  int64 // -nats-pending-bytes: the live feed's buffer
	BusFetches  int64 // -nats-max-fetches: each holds up to -max-replay + 1 publications
	BusFetchQ   int64 // -nats-fetch-queue: ~200 B each
	MaxReplay   int64 // server -max-replay
}

// BusBytes is the memory a cluster node's bus bounds fix (0 alone): the
// publishes in flight, the live feed's buffer, the running fetches and
// the fetch queue (docs/operations.md, "Memory formula per limit flag").
func (in Input) BusBytes() int64 {
	if !in.Cluster {
		return 0
	}
	return in.BusInflight*(in.MaxMessage+busOverhead) + in.BusPending +
		in.BusFetches*(in.MaxReplay+1)*in.MaxMessage + in.BusFetchQ*busOverhead
}

// busOverhead is what one publish in flight or queued resume costs beyond
// its data: its record, the channel name and id copies, the NATS message
// and headers (about 200 B).
const busOverhead = 200

// wmemMax is the kernel's default tcp_wmem maximum: what a socket's send
// buffer may grow to when -sndbuf leaves it to the kernel.
const wmemMax = 4 << 20

// handshakeBytes is what a connection mid-handshake may hold: its request
// buffer (frame.MaxRequest).
const handshakeBytes = 8 << 10

// Limit is one ceiling on the connection count.
type Limit struct {
	Name   string
	Max    int64 // math.MaxInt64 means "not limiting"
	Reason string
}

// Result is the answer: the count that fits, which limit binds, and
// what it takes.
type Result struct {
	KernelBytes   float64 // kernel part of IdleBytes (see plannedKernel)
	SubBytes      float64 // per connection: its subscriptions (Membership x SubsPerConn)
	GateBytes     float64 // per connection: its grant and permission set, its share of the per-address table (gate.go)
	IdleBytes     float64 // per idle connection (profile) with its subscriptions
	SendBuf       float64 // kernel send buffer a slow connection may pin: 2 x -sndbuf (the kernel doubles it), or wmemMax
	FixedBytes    float64 // bounds that do not grow with connections: history, fan-out queue, handshakes, compression, gate
	CompressBytes float64 // of which -compress's pooled state (compressFixed)
	BusyBytes     float64 // per busy connection: idle + queue at bound + reassembly + kernel send buffer
	AvgBytes      float64 // mixed by BusyFrac
	Limits        []Limit // sorted, binding first
	Fit           int64
	Binding       string
	Sysctl        []SysctlReq
	PingsPerSec   float64
	PingBytesPS   float64 // both directions, wire bytes incl. TCP/IP headers
	PingCores     float64 // CPU cores for heartbeats; -1 if the profile has no per-ping figure
	MsgCores      float64 // CPU cores for MsgRate deliveries; -1 if unknown
}

// Unlimited marks a limit that does not apply.
const Unlimited = math.MaxInt64

// Wire cost of one heartbeat: a 2-byte ping frame out, a 6-byte masked pong
// back (empty payloads), each in one TCP segment with 52 bytes of IPv4+TCP
// headers with timestamps, plus the ACKs that may piggyback or not (counted
// once each way).
const pingWireBytes = (2 + 52) + (6 + 52) + 2*52

// Plan computes the connection count that fits in and the binding limit.
// It takes every per-connection figure from p.
func Plan(in Input, p *Profile) (Result, error) {
	if err := p.Validate(); err != nil {
		return Result{}, err
	}
	var r Result
	r.KernelBytes = plannedKernel(p)
	if m := p.Membership; m != nil {
		r.SubBytes = in.SubsPerConn * (in.OwnChanFrac*m.OwnSubBytes + (1-in.OwnChanFrac)*m.SharedSubBytes)
	}
	gateFixed := 0.0
	r.GateBytes, gateFixed = gateBytes(in)
	r.IdleBytes = p.PerConn.TotalBytes - p.PerConn.KernelBytes + r.KernelBytes + r.SubBytes + r.GateBytes
	r.SendBuf = wmemMax
	if in.SendBuffer > 0 {
		r.SendBuf = float64(2 * in.SendBuffer)
	}
	r.BusyBytes = r.IdleBytes + float64(in.MaxOutbound) + float64(in.MaxMessage) + r.SendBuf
	r.AvgBytes = r.IdleBytes*(1-in.BusyFrac) + r.BusyBytes*in.BusyFrac
	r.CompressBytes = compressFixed(in)
	r.FixedBytes = float64(in.HistoryMemory+in.FanoutQueue+in.MaxHandshakes*handshakeBytes+in.BusBytes()) + r.CompressBytes + gateFixed
	usable := float64(in.RAM)*(1-in.Headroom) - r.FixedBytes
	mem := int64(max(usable, 0) / r.AvgBytes)
	r.Limits = append(r.Limits, Limit{"memory", mem, fmt.Sprintf("%s usable (RAM x %.2f - %s of fixed bounds) / %s per connection",
		FmtBytes(max(usable, 0)), 1-in.Headroom, FmtBytes(r.FixedBytes), FmtBytes(r.AvgBytes))})
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
	return max(p.PerConn.KernelBytes, Median(all))
}

// compressFixed is what -compress can hold at once, whatever the
// connection count: compressors and inflaters live only while a call uses
// them, borrowed from sync.Pools, so at most one per goroutine compressing
// (a shard worker: shards, the next power of two >= cores) or inflating
// (an epoll event loop: cores) at once, plus one parked in each P's
// private pool slot (cores), each of at most frame.DeflaterBytes or
// frame.InflaterBytes (measured by frame's TestDeflateStateBytes).
func compressFixed(in Input) float64 {
	if !in.Compress {
		return 0
	}
	cores := max(in.Cores, 1)
	shards := int64(1)
	for shards < cores && shards < 256 {
		shards <<= 1
	}
	return float64((shards+cores)*frame.DeflaterBytes + (cores+cores)*frame.InflaterBytes)
}
