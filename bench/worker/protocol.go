package worker

import hdr "github.com/HdrHistogram/hdrhistogram-go"

// The parent and each worker process talk over the worker's stdin/stdout,
// one JSON object per line. The parent sends a Cmd and waits for exactly one
// Event in reply; work a command starts (dialling, publishing) goes on in
// the worker after the reply and is observed with "stats". A worker exits
// when told to, or when its stdin closes (the parent is gone).

// HistMaxMicros is the largest latency a histogram holds: 2 minutes.
const HistMaxMicros = 120_000_000

// NewHist is the latency histogram both sides use (microseconds, 1 µs to
// HistMaxMicros, 3 significant digits), so a worker's snapshot merges into
// the parent's without loss.
func NewHist() *hdr.Histogram { return hdr.New(1, HistMaxMicros, 3) }

// Cmd is a parent-to-worker request.
type Cmd struct {
	Op string `json:"op"` // dial | token | stats | pub | drop | cut | tail | rechist | hist | swaphist | reset | closeall | send | failover | exit

	// dial: open N connections to Addr (host:port) from LAddr at Rate/s.
	Addr  string `json:"addr,omitempty"`
	Path  string `json:"path,omitempty"`
	LAddr string `json:"laddr,omitempty"`
	// LAddrs, if set, are used in turn instead of LAddr: the kernel's
	// ephemeral-port search for connect(2) slows as one source address
	// fills its port range, so each worker spreads over several.
	LAddrs []string `json:"laddrs,omitempty"`
	N      int      `json:"n,omitempty"`
	Rate   float64  `json:"rate,omitempty"`
	Raw    bool     `json:"raw,omitempty"` // plain TCP (floor): no handshake, count bytes
	// Subscriptions: connection k of this worker subscribes to
	// Prefix + (Base+k) % Channels; no subscription if Channels == 0.
	Prefix   string `json:"prefix,omitempty"`
	Channels int    `json:"channels,omitempty"`
	Base     int    `json:"base,omitempty"`
	Pub      bool   `json:"pub,omitempty"` // these connections publish (kept apart)
	// Deflate: the upgrade offers permessage-deflate (as browsers do);
	// compressed frames are inflated before they are looked at.
	Deflate bool `json:"deflate,omitempty"`
	// Resume: subscribers track their channel's offset and epoch; "cut"
	// closes N of them without a close frame and dials N that subscribe
	// with since from the cut positions; "tail" counts those behind Final;
	// "rechist" returns the cut-to-caught-up histogram.
	Resume bool   `json:"resume,omitempty"`
	Final  uint64 `json:"final,omitempty"`
	// Cluster (bench cluster): Own, if set, makes every connection also
	// subscribe to a channel of its own, Own + its index. Seq makes resume
	// subscribers count lost and repeated publications by the sequence the
	// data carries, not by offset (a cluster's offsets are not contiguous),
	// and "tail" compare Final with that sequence. SeqBase is the first
	// sequence of a "pub" (and, for "reset", of the per-publish arrays).
	Own     string `json:"own,omitempty"`
	Seq     bool   `json:"seq,omitempty"`
	SeqBase int    `json:"seq_base,omitempty"`
	// failover: from now on a resume subscriber that the server closes is
	// replaced by a connection to Failover[i] (FailoverN[i] of them, in
	// turn), which resumes with since like a cut one.
	Failover  []string `json:"failover,omitempty"`
	FailoverN []int    `json:"failover_n,omitempty"`

	// token: from now on, every connection this worker dials sends a token
	// of its own in its upgrade request (Authorization: Bearer).
	Token *TokenSpec `json:"token,omitempty"`
	// RetryUntil (Unix ns), if set: a connection of this dial refused with
	// 503 dials again after its Retry-After, one closed before the upgrade
	// after a second, until then. Redials take the worker's latest dial
	// settings, so a scenario lets one retrying dial finish before the next.
	RetryUntil int64 `json:"retry_until,omitempty"`

	// pub: each publisher connection sends Count messages of Size bytes to
	// Prefix + (Base+k) % Channels, together at Rate messages/s per worker.
	Count int `json:"count,omitempty"`
	Size  int `json:"size,omitempty"`
	// Seqs sizes the per-publish arrays (broadcast: time until the last
	// subscriber got publish i, and how many got it).
	Seqs int `json:"seqs,omitempty"`
}

// TokenSpec is how a worker signs a connection's token: HS256 with
// Secret, sub = SubPrefix + the connection's 7-digit index within the
// worker (distinct over the run), exp as given, and a ch claim of "*"
// both ways (one permission set shared by all).
type TokenSpec struct {
	Secret    []byte `json:"secret"`
	SubPrefix string `json:"sub_prefix"`
	Exp       int64  `json:"exp"`
}

// Event is a worker-to-parent reply.
type Event struct {
	Ev    string        `json:"ev"` // ok | stats | hist | err | ready
	Err   string        `json:"err,omitempty"`
	Addr  string        `json:"addr,omitempty"` // floor server: its listen address
	Stats *WStats       `json:"stats,omitempty"`
	Hist  *hdr.Snapshot `json:"hist,omitempty"`
	Last  []int64       `json:"last,omitempty"` // per seq: latest delivery latency, ns
	Got   []int32       `json:"got,omitempty"`  // per seq: deliveries
}

// WStats are a worker's counters (monotonic unless noted).
type WStats struct {
	PID        int    `json:"pid"`
	Dialled    int64  `json:"dialled"`    // Dial calls made
	DialErr    int64  `json:"dial_err"`   // Dial returned an error
	Opened     int64  `json:"opened"`     // TCP connected (OnOpen)
	Handshakes int64  `json:"handshakes"` // 101 received (raw: = opened)
	Rejected   int64  `json:"rejected"`   // non-101 reply to the upgrade
	ConnFail   int64  `json:"conn_fail"`  // closed before the handshake completed
	Open       int64  `json:"open"`       // handshaken and not closed now (gauge)
	Unexpected int64  `json:"unexpected"` // established connections closed that we did not drop
	Dropped    int64  `json:"dropped"`    // connections we closed on purpose
	Subacks    int64  `json:"subacks"`    // acks to sub
	Pubacks    int64  `json:"pubacks"`    // acks to pub
	ErrReplies int64  `json:"err_replies"`
	Published  int64  `json:"published"` // pub frames written
	PubErr     int64  `json:"pub_err"`
	Msgs       int64  `json:"msgs"`                 // msg pushes received
	Bytes      int64  `json:"bytes"`                // bytes received after the handshake (on the wire: compressed if they were)
	Deflated   int64  `json:"deflated,omitempty"`   // upgrades whose 101 agreed to permessage-deflate
	Compressed int64  `json:"compressed,omitempty"` // frames received compressed (RSV1), inflated
	Pings      int64  `json:"pings"`                // pings answered
	Closes     int64  `json:"closes"`
	PubDone    bool   `json:"pub_done"`
	Note       string `json:"note,omitempty"`

	// admission (Cmd.RetryUntil)
	Refused503 int64   `json:"refused_503,omitempty"` // 503 replies (also counted in Rejected)
	Retries    int64   `json:"retries,omitempty"`     // dials made again after a refusal or failure
	RetryAfter []int64 `json:"retry_after,omitempty"` // 503s by Retry-After seconds (index; the last holds larger ones)

	// resume subscribers
	Lost         int64 `json:"lost,omitempty"`          // offsets skipped (and gaps of unrecovered resumes)
	Dups         int64 `json:"dups,omitempty"`          // offsets received again
	Resumed      int64 `json:"resumed,omitempty"`       // subs sent with since
	Recovered    int64 `json:"recovered,omitempty"`     // ... answered recovered:true
	NotRecovered int64 `json:"not_recovered,omitempty"` // ... answered recovered:false
	CaughtUp     int64 `json:"caught_up,omitempty"`     // recovered ones that reached their ack's offset
	Behind       int64 `json:"behind,omitempty"`        // tail: subscribers short of Final
	Missing      int64 `json:"missing,omitempty"`       // tail: offsets they lack
	Failovers    int64 `json:"failovers,omitempty"`     // subscribers closed by the server and redialled elsewhere
	// floor server
	Accepted int64   `json:"accepted,omitempty"`
	Sent     int64   `json:"sent,omitempty"`
	SendErr  int64   `json:"send_err,omitempty"`
	SendSecs float64 `json:"send_secs,omitempty"`
}

// add folds o into s (the parent's view over all workers).
func (s *WStats) add(o *WStats) {
	s.Dialled += o.Dialled
	s.DialErr += o.DialErr
	s.Opened += o.Opened
	s.Handshakes += o.Handshakes
	s.Rejected += o.Rejected
	s.ConnFail += o.ConnFail
	s.Open += o.Open
	s.Unexpected += o.Unexpected
	s.Dropped += o.Dropped
	s.Subacks += o.Subacks
	s.Pubacks += o.Pubacks
	s.ErrReplies += o.ErrReplies
	s.Published += o.Published
	s.PubErr += o.PubErr
	s.Msgs += o.Msgs
	s.Bytes += o.Bytes
	s.Deflated += o.Deflated
	s.Compressed += o.Compressed
	s.Pings += o.Pings
	s.Closes += o.Closes
	s.Refused503 += o.Refused503
	s.Retries += o.Retries
	if len(o.RetryAfter) > len(s.RetryAfter) {
		s.RetryAfter = append(s.RetryAfter, make([]int64, len(o.RetryAfter)-len(s.RetryAfter))...)
	}
	for i, v := range o.RetryAfter {
		s.RetryAfter[i] += v
	}
	s.Lost += o.Lost
	s.Dups += o.Dups
	s.Resumed += o.Resumed
	s.Recovered += o.Recovered
	s.NotRecovered += o.NotRecovered
	s.CaughtUp += o.CaughtUp
	s.Behind += o.Behind
	s.Missing += o.Missing
	s.Failovers += o.Failovers
	s.Accepted += o.Accepted
	s.Sent += o.Sent
	s.SendErr += o.SendErr
	s.SendSecs += o.SendSecs
}
