package bench

import (
	"context"
	"fmt"
	"runtime"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/starling-ws/starling/bench/plan"
	"github.com/starling-ws/starling/bench/worker"
)

// pubsubRun is what broadcast and fanin share: N subscribers spread over
// channels, C publishers, R publishes each, latency from the send time
// embedded in every message.
type pubsubRun struct {
	subs, channels, pubs, count int
	prefix                      string
	trackSeqs                   bool // broadcast: time until the last subscriber got each publish
	deflate                     bool // subscribers offer permessage-deflate
}

type pubsubOut struct {
	hist      *hdr.Histogram
	lastMs    []float64
	expected  int64
	received  int64
	elapsed   time.Duration
	published int64
	cpu       float64  // server CPU seconds during the publish phase
	userCPU   float64  // of which user space (utime)
	split     cpuSplit // CPU seconds of server, workers and this process during the publish phase
	st        worker.WStats
	wire      int64 // bytes the subscribers read during the publish phase (compressed as they came)
	inflated  int64 // of the frames they read, compressed ones
}

func (ps pubsubRun) run(ctx context.Context, o *Opts, s *session, r *Result) (*pubsubOut, error) {
	st, err := s.dial(ctx, o, ps.subs, worker.Cmd{Prefix: ps.prefix, Channels: ps.channels, Deflate: ps.deflate})
	if err != nil {
		return nil, err
	}
	if st.Open < int64(ps.subs) {
		return nil, fmt.Errorf("%d of %d subscribers connected (%d failed, %d rejected)", st.Open, ps.subs, st.ConnFail+st.DialErr, st.Rejected)
	}
	if _, err := waitSubacks(ctx, s.fl, 0, ps.subs, s.prog); err != nil {
		return nil, err
	}
	// Publishers: spread over the workers; publisher j publishes to channel
	// j % channels (Base + its index within its worker).
	parts := s.fl.Split(ps.pubs)
	before, _ := s.fl.Stats(ctx)
	base := 0
	bases := make([]int, len(parts))
	for i, p := range parts {
		bases[i] = base
		base += p
	}
	if _, err := s.fl.Each(ctx, func(i int, p *worker.Proc) (worker.Cmd, bool) {
		return worker.Cmd{Op: "dial", Addr: s.t.Addr, Path: s.t.Path, LAddrs: p.LAddrs, N: parts[i], Pub: true, Prefix: ps.prefix, Channels: ps.channels}, parts[i] > 0
	}); err != nil {
		return nil, err
	}
	if _, err := waitOutcomes(ctx, s.fl, before, ps.pubs, "publishers", s.prog); err != nil {
		return nil, err
	}
	subsOf := func(c int) int64 { // subscriber g is on channel g % channels
		n := ps.subs / ps.channels
		if c < ps.subs%ps.channels {
			n++
		}
		return int64(n)
	}
	out := &pubsubOut{hist: worker.NewHist()}
	for j := 0; j < ps.pubs; j++ {
		out.expected += int64(ps.count) * subsOf(j%ps.channels)
	}
	seqs := 0
	if ps.trackSeqs {
		seqs = ps.count
	}
	if _, err := s.fl.Each(ctx, func(int, *worker.Proc) (worker.Cmd, bool) { return worker.Cmd{Op: "reset", Seqs: seqs}, true }); err != nil {
		return nil, err
	}
	st0, _ := s.fl.Stats(ctx)
	c0, err := s.smp.Take()
	if err != nil {
		return nil, err
	}
	split0 := readCPU(s.t.PID, s.fl.PIDs())
	t0 := time.Now()
	if _, err := s.fl.Each(ctx, func(i int, p *worker.Proc) (worker.Cmd, bool) {
		rate := o.PubRate * float64(parts[i]) / float64(ps.pubs)
		return worker.Cmd{Op: "pub", Count: ps.count, Size: o.Size, Rate: rate, Prefix: ps.prefix, Channels: ps.channels, Base: bases[i]}, parts[i] > 0
	}); err != nil {
		return nil, err
	}
	// Wait for every delivery, or until nothing arrived for 3 s after the
	// publishers finished, or the -duration cap.
	capT := time.NewTimer(o.Duration)
	defer capT.Stop()
	var lastChange time.Time
	var prevMsgs int64 = -1
	var stN worker.WStats
wait:
	for {
		stN, err = s.fl.Stats(ctx)
		if err != nil {
			return nil, err
		}
		s.prog.Show("publish", stN, false)
		got := stN.Msgs - st0.Msgs
		if got != prevMsgs {
			prevMsgs, lastChange = got, time.Now()
			out.elapsed = time.Since(t0)
		}
		pubsDone := stN.Published+stN.PubErr-st0.Published-st0.PubErr >= int64(ps.pubs*ps.count)
		switch {
		case got >= out.expected:
			break wait
		case pubsDone && time.Since(lastChange) > 3*time.Second:
			r.note("stopped waiting: no delivery for 3 s after the last publish")
			break wait
		}
		select {
		case <-capT.C:
			r.note(fmt.Sprintf("stopped at the -duration cap (%v)", o.Duration))
			break wait
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	c1, _ := s.smp.Take()
	split1 := readCPU(s.t.PID, s.fl.PIDs())
	out.split = cpuSplit{split1.server - split0.server, split1.clients - split0.clients, split1.self - split0.self}
	out.cpu = c1.CPU - c0.CPU
	out.userCPU = c1.UserCPU - c0.UserCPU
	out.received = stN.Msgs - st0.Msgs
	out.wire, out.inflated = stN.Bytes-st0.Bytes, stN.Compressed-st0.Compressed
	out.published = stN.Published - st0.Published
	out.st = stN
	evs, err := s.fl.Each(ctx, func(int, *worker.Proc) (worker.Cmd, bool) { return worker.Cmd{Op: "hist"}, true })
	if err != nil {
		return nil, err
	}
	last := make([]int64, seqs)
	for _, e := range evs {
		if e.Hist != nil {
			out.hist.Merge(hdr.Import(e.Hist))
		}
		for i := range min(len(e.Last), seqs) {
			last[i] = max(last[i], e.Last[i])
		}
	}
	for _, v := range last {
		out.lastMs = append(out.lastMs, float64(v)/1e6)
	}
	return out, nil
}

// report fills the rows shared by broadcast and fanin.
func (out *pubsubOut) report(r *Result, o *Opts) {
	lost := out.expected - out.received
	el := out.elapsed.Seconds()
	if el <= 0 {
		el = 1e-9
	}
	r.addf("published", "%d of %d bytes data (%d acked, %d err replies)", out.published, o.Size, out.st.Pubacks, out.st.ErrReplies)
	r.addf("deliveries", "%d of %d expected, lost %d, %.0f deliveries/s over %v", out.received, out.expected, lost, float64(out.received)/el, out.elapsed.Round(time.Millisecond))
	per := 0.0
	if out.received > 0 {
		per = out.cpu * 1e6 / float64(out.received)
	}
	user := 0.0
	if out.received > 0 {
		user = out.userCPU * 1e6 / float64(out.received)
	}
	r.addf("server CPU", "%.3f s = %.2f µs per delivery (user space %.2f µs, kernel %.2f µs)", out.cpu, per, user, per-user)
	wire := 0.0
	if out.received > 0 {
		wire = float64(out.wire) / float64(out.received)
	}
	r.addf("on the wire", "%d bytes to subscribers = %.0f B per delivery (%d frames compressed; %d connections negotiated permessage-deflate)", out.wire, wire, out.inflated, out.st.Deflated)
	r.Figures["wire_bytes_per_delivery"] = wire
	r.Figures["compressed_frames"] = float64(out.inflated)
	r.Figures["user_cpu_us_per_delivery"] = user
	r.Latency = summarize(out.hist)
	r.Figures["deliveries_per_s"] = float64(out.received) / el
	r.Figures["lost"] = float64(lost)
	r.Figures["expected"] = float64(out.expected)
	r.Figures["cpu_us_per_delivery"] = per
	r.Figures["published"] = float64(out.published)
}

// broadcastOnce: N subscribers on one channel, R publishes of P bytes;
// with deflate every subscriber offers permessage-deflate.
func broadcastOnce(ctx context.Context, o *Opts, deflate bool) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	s, err := o.open(ctx, o.N+1, o.prog())
	if err != nil {
		return nil, err
	}
	defer s.close()
	r := newResult("broadcast", o.N)
	r.note(s.t.Note)
	out, err := pubsubRun{subs: o.N, channels: 1, pubs: 1, count: o.Publishes, prefix: "bc", trackSeqs: true, deflate: deflate}.run(ctx, o, s, r)
	if err != nil {
		return nil, err
	}
	r.addf("setup", "%d subscribers on one channel, 1 publisher, %d publishes at %.1f/s", o.N, o.Publishes, o.PubRate)
	out.report(r, o)
	r.LastDeliveryMs = out.lastMs
	if len(out.lastMs) > 0 {
		med := plan.Median(out.lastMs)
		r.addf("until last subscriber", "median %.1f ms, max %.1f ms (per publish)", med, maxf(out.lastMs))
		r.Figures["last_subscriber_ms_median"] = med
		r.Figures["last_subscriber_ms_max"] = maxf(out.lastMs)
		// Paced publishes go out one at a time: their fan-outs fill the
		// sum of the per-publish times. The server's CPU over that time is
		// how many cores it had, the clients sharing the machine taking the
		// rest; the floor for the last subscriber is N x CPU per delivery
		// over those cores (issue 9 item 7).
		busy := 0.0
		for _, v := range out.lastMs {
			busy += v / 1e3
		}
		per := r.Figures["cpu_us_per_delivery"]
		if paced := o.PubRate > 0 && med/1e3 < 1/o.PubRate; paced && busy > 0 && per > 0 {
			cores := out.split.server / busy
			ideal := float64(o.N) * per / 1e3 / cores
			r.addf("cores during the fan-outs", "server %.2f, clients %.2f, bench process %.2f (of %d; CPU over the %.2f s the fan-outs were in flight)",
				cores, out.split.clients/busy, out.split.self/busy, runtime.NumCPU(), busy)
			r.addf("last subscriber vs floor", "N x CPU per delivery / server cores = %.1f ms; median last subscriber %.1f ms = %.2fx",
				ideal, med, med/ideal)
			r.Figures["server_cores_fanout"], r.Figures["last_subscriber_vs_floor"] = cores, med/ideal
		}
	}
	per := r.Figures["cpu_us_per_delivery"]
	old, _ := plan.ReadPartial(o.Profile)
	if old != nil && old.Floor != nil && per > 0 {
		r.addf("vs floor", "kernel write costs %.2f µs per send (floor, N=%d): user space adds %.2f µs per delivery on top of the kernel (%.1fx the floor)",
			old.Floor.SendCPUMicros, old.Floor.N, per-old.Floor.SendCPUMicros, per/old.Floor.SendCPUMicros)
	}
	if o.Profile != "" && old != nil && per > 0 {
		old.PerDeliveryCPUMicros, old.BroadcastN = per, o.N
		if err := plan.WriteProfile(o.Profile, old); err != nil {
			return r, err
		}
		r.addf("profile", "per-delivery CPU merged into %s", o.Profile)
	}
	return r, nil
}

func maxf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}
