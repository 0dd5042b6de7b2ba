package plan

import (
	"encoding/json"
	"fmt"
	"os"
)

// ProfileSchema is bumped whenever a field changes meaning.
const ProfileSchema = 1

// Profile is what `bench idle -profile` (and `bench broadcast -profile`)
// measured on one machine, and the only source of figures for `plan`.
type Profile struct {
	Schema    int     `json:"schema"`
	Date      string  `json:"date"` // RFC 3339, UTC
	GitCommit string  `json:"git_commit"`
	Command   string  `json:"command"` // the bench command line that produced it
	Machine   Machine `json:"machine"`
	Engine    string  `json:"engine"`
	N         int     `json:"n"` // connections held when PerConn was taken

	PerConn PerConn `json:"per_conn"`
	// Points are the idle runs the slope was fitted from.
	Points []IdlePoint `json:"points,omitempty"`

	// PerDeliveryCPUMicros is server CPU (user+sys) per delivered message,
	// from a broadcast run; 0 if none was measured.
	PerDeliveryCPUMicros float64 `json:"per_delivery_cpu_us,omitempty"`
	BroadcastN           int     `json:"broadcast_n,omitempty"`
	// PerPongCPUMicros is server CPU per heartbeat round trip (ping sent,
	// pong read), from an idle run with heartbeats; 0 if not measured.
	PerPingCPUMicros float64 `json:"per_ping_cpu_us,omitempty"`

	Floor *FloorFigures `json:"floor,omitempty"`

	// Membership is what subscriptions and retained publications cost,
	// measured by the shard's million-entry tests (not by a bench run: no
	// socket is needed); nil if not recorded.
	Membership *Membership `json:"membership,omitempty"`
}

// Membership figures, bytes (see docs/memory.md).
type Membership struct {
	SharedSubBytes   float64 `json:"shared_sub_bytes"`  // one more subscriber on a shared channel
	OwnSubBytes      float64 `json:"own_sub_bytes"`     // a subscription on a channel of its own (the larger of the shard counts measured)
	RetainedOverhead float64 `json:"retained_overhead"` // a retained publication beyond its payload and frames
	Source           string  `json:"source"`            // the command and date that measured them
}

// Machine identifies where the figures were taken.
type Machine struct {
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model"`
	MemTotal   int64  `json:"mem_total_bytes"`
	Kernel     string `json:"kernel"`
	GoVersion  string `json:"go_version"`
	NoFileHard uint64 `json:"nofile_hard"`
}

// PerConn is the cost of one idle connection, server side.
type PerConn struct {
	// KernelBytes: socket slab objects (socket, inode, dentry, file, epoll
	// item) plus TCP buffer pages, system-wide delta divided by 2N because
	// both ends of a loopback connection live on this host and are alike.
	KernelBytes float64 `json:"kernel_bytes"`
	// UserBytes: the server's RSS delta divided by N (connection record,
	// shard entries, wheel slot, engine buffers, allocator slack).
	UserBytes float64 `json:"user_bytes"`
	// HeapBytes: Go heap in use delta / N, from the admin /metrics
	// endpoint; 0 if the server exposed none.
	HeapBytes float64 `json:"heap_bytes,omitempty"`
	// TotalBytes = KernelBytes + UserBytes: what plan divides RAM by.
	TotalBytes float64 `json:"total_bytes_per_conn"`
	// Slope fit over Points (bytes per connection), if >= 2 points.
	SlopeRSS    float64 `json:"slope_rss_bytes,omitempty"`
	SlopeKernel float64 `json:"slope_kernel_bytes,omitempty"`
}

// IdlePoint is one idle run at N connections.
type IdlePoint struct {
	N           int     `json:"n"`
	RSSBytes    int64   `json:"rss_bytes"`     // server RSS with N held
	RSSBase     int64   `json:"rss_base"`      // server RSS before the first dial
	HeapBytes   int64   `json:"heap_bytes"`    // go_memstats_heap_inuse_bytes, 0 if unknown
	HeapBase    int64   `json:"heap_base"`     //
	SlabDelta   int64   `json:"slab_delta"`    // system-wide slab bytes delta (all caches)
	KernelDelta int64   `json:"kernel_delta"`  // socket slab caches + TCP pages grown
	TCPMemDelta int64   `json:"tcp_mem_delta"` // sockstat TCP mem pages delta * page size
	CPUSeconds  float64 `json:"cpu_seconds"`   // server utime+stime while holding
	HoldSeconds float64 `json:"hold_seconds"`
	Pings       int64   `json:"pings"` // pings the clients answered while holding
}

// UserPer is the server's RSS growth per connection in this run.
func (p IdlePoint) UserPer() float64 { return float64(p.RSSBytes-p.RSSBase) / float64(p.N) }

// KernelPer is the socket kernel memory per connection: both loopback ends
// live on the measuring host and cost alike, hence 2N.
func (p IdlePoint) KernelPer() float64 { return float64(p.KernelDelta) / float64(2*p.N) }

// HeapPer is the Go heap growth per connection; 0 if the heap was unknown.
func (p IdlePoint) HeapPer() float64 {
	if p.HeapBytes < 0 || p.HeapBase < 0 {
		return 0
	}
	return float64(p.HeapBytes-p.HeapBase) / float64(p.N)
}

// FloorFigures are what `bench floor` measured: the same sockets with no
// WebSocket server, the kernel's share that Starling's figures compare with.
type FloorFigures struct {
	Date               string  `json:"date"`
	N                  int     `json:"n"`
	KernelBytesPerConn float64 `json:"kernel_bytes_per_conn"` // kernel delta / 2N
	ProcBytesPerConn   float64 `json:"proc_bytes_per_conn"`   // accepting process RSS delta / N
	SendCPUMicros      float64 `json:"send_cpu_us"`           // CPU per write(2) of SendBytes
	SendBytes          int     `json:"send_bytes"`
	Sends              int64   `json:"sends"`
}

// Validate says what is missing for plan to use p.
func (p *Profile) Validate() error {
	switch {
	case p.Schema != ProfileSchema:
		return fmt.Errorf("profile schema %d, want %d (re-run bench idle -profile)", p.Schema, ProfileSchema)
	case p.N <= 0:
		return fmt.Errorf("profile n = %d: no measured connections", p.N)
	case p.PerConn.TotalBytes <= 0 || p.PerConn.KernelBytes < 0 || p.PerConn.UserBytes < 0:
		return fmt.Errorf("profile per_conn figures missing or negative (%+v)", p.PerConn)
	}
	return nil
}

func loadRaw(path string) (*Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	var p Profile
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	return &p, nil
}

// LoadProfile reads and validates a profile.
func LoadProfile(path string) (*Profile, error) {
	pp, err := loadRaw(path)
	if err != nil {
		return nil, err
	}
	p := *pp
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	return &p, nil
}

// ReadPartial reads a profile without validating it: a bench run merges its
// figures into one that may so far hold only floor or broadcast figures.
// It returns nil and no error when path is "" or does not exist.
func ReadPartial(path string) (*Profile, error) {
	if path == "" {
		return nil, nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil, nil
	}
	return loadRaw(path)
}

// WriteProfile writes p as indented JSON.
func WriteProfile(path string, p *Profile) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
