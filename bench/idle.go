package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/starling-ws/starling/bench/plan"
	"github.com/starling-ws/starling/bench/worker"
)

// idleOnce holds n connections on a fresh (or the attached) server for
// o.Duration and measures what they cost.
func idleOnce(ctx context.Context, o *Opts, n int, r *Result) (plan.IdlePoint, error) {
	pt := plan.IdlePoint{N: n}
	s, err := o.open(ctx, n, o.prog())
	if err != nil {
		return pt, err
	}
	defer s.close()
	r.note(s.t.Note)
	time.Sleep(500 * time.Millisecond) // let the server settle before the base
	base, err := s.smp.Take()
	if err != nil {
		return pt, err
	}
	pt.RSSBase, pt.HeapBase = base.RSS, base.Heap
	step := int64(max(n/20, 100))
	next := step
	tick := func(st worker.WStats) {
		if st.Open < next {
			return
		}
		next = st.Open + step
		if sm, err := s.smp.Take(); err == nil {
			r.Mem = append(r.Mem, MemPoint{Conns: st.Open, RSS: sm.RSS, Kernel: kernelDelta(base, sm), Heap: sm.Heap})
		}
	}
	sub := worker.Cmd{Deflate: o.Compress}
	if o.IdleSub {
		// One channel for all: the connection's own cost after one
		// message each way (sub in, ack out), not a channel's.
		sub.Prefix, sub.Channels = "idle", 1
	}
	st, err := s.dial(ctx, o, n, sub, tick)
	if err != nil {
		return pt, err
	}
	if st.Open < int64(n) {
		return pt, fmt.Errorf("idle: only %d of %d connections open (%d failed, %d rejected)", st.Open, n, st.ConnFail+st.DialErr, st.Rejected)
	}
	if o.Compress {
		r.note(fmt.Sprintf("N=%d: %d of %d connections negotiated permessage-deflate", n, st.Deflated, n))
	}
	if v := s.smp.metric("starling_authentications_total"); o.Tokens && v != int64(n) {
		r.note(fmt.Sprintf("N=%d: the server verified %d tokens, not %d (starling_authentications_total; -1: no metrics)", n, v, n))
	}
	if o.IdleSub {
		ack, err := waitSubacks(ctx, s.fl, 0, n, s.prog)
		if err != nil {
			return pt, fmt.Errorf("idle: subscriptions: %w", err)
		}
		r.note(fmt.Sprintf("N=%d: %d of %d connections sent sub and got its ack before the hold", n, ack.Subacks, n))
	}
	time.Sleep(2 * time.Second) // handshake buffers released, GC settled
	h0, err := s.smp.Take()
	if err != nil {
		return pt, err
	}
	hold := time.NewTimer(o.Duration)
	defer hold.Stop()
	tk := time.NewTicker(time.Second)
	defer tk.Stop()
loop:
	for {
		select {
		case <-hold.C:
			break loop
		case <-ctx.Done():
			return pt, fmt.Errorf("idle: time cap reached while holding: %w", ctx.Err())
		case <-tk.C:
			if cur, err := s.fl.Stats(ctx); err == nil {
				s.prog.Show("hold", cur, false)
			}
		}
	}
	h1, err := s.smp.Take()
	if err != nil {
		return pt, err
	}
	st2, err := s.fl.Stats(ctx)
	if err != nil {
		return pt, err
	}
	if st2.Unexpected > 0 {
		r.note(fmt.Sprintf("N=%d: %d connections closed by the server while idle (missed pongs?)", n, st2.Unexpected))
	}
	pt.RSSBytes, pt.HeapBytes = h1.RSS, h1.Heap
	pt.SlabDelta = h1.Slab - base.Slab
	pt.TCPMemDelta = h1.TCPMem - base.TCPMem
	pt.KernelDelta = kernelDelta(base, h1)
	pt.CPUSeconds = h1.CPU - h0.CPU
	pt.HoldSeconds = h1.At.Sub(h0.At).Seconds()
	pt.Pings = st2.Pings - st.Pings
	r.Mem = append(r.Mem, MemPoint{Conns: st2.Open, RSS: h1.RSS, Kernel: pt.KernelDelta, Heap: h1.Heap})
	return pt, nil
}

// slope is the least-squares slope of y over x.
func slope(x, y []float64) float64 {
	if len(x) < 2 {
		return 0
	}
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx /= float64(len(x))
	my /= float64(len(x))
	var num, den float64
	for i := range x {
		num += (x[i] - mx) * (y[i] - my)
		den += (x[i] - mx) * (x[i] - mx)
	}
	if den == 0 {
		return 0
	}
	return num / den
}

// RunIdle holds each N in o.Ns (o.Repeat times, a fresh server each when
// spawning) and reports per-connection memory and CPU; with -profile it
// writes the profile plan reads.
func RunIdle(ctx context.Context, o *Opts) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	ns := o.Ns
	if len(ns) == 0 {
		ns = []int{o.N}
	}
	r := newResult("idle", ns[len(ns)-1])
	if o.Tokens {
		r.note("-tokens: every connection upgraded with a token of its own (HS256, a distinct 12-byte sub, ch * both ways), verified by the server unless noted")
	}
	rep := max(o.Repeat, 1)
	if !o.Spawn {
		rep = 1 // an attached server cannot be reset between runs
	}
	var xs, rss, kern []float64
	type agg struct{ user, kernel, heap, cpu, ping float64 }
	per := map[int]agg{}
	for _, n := range ns {
		var us, ks, hs, cs, ps []float64
		for i := 0; i < rep; i++ {
			if o.Stderr != nil {
				fmt.Fprintf(o.Stderr, "idle: N=%d run %d/%d\n", n, i+1, rep)
			}
			r.Mem = r.Mem[:0]
			pt, err := idleOnce(ctx, o, n, r)
			if err != nil {
				return nil, fmt.Errorf("idle N=%d run %d: %w", n, i+1, err)
			}
			r.Points = append(r.Points, pt)
			us, ks, hs = append(us, pt.UserPer()), append(ks, pt.KernelPer()), append(hs, pt.HeapPer())
			cs = append(cs, pt.CPUSeconds/pt.HoldSeconds)
			if pt.Pings > 0 {
				ps = append(ps, pt.CPUSeconds*1e6/float64(pt.Pings))
			}
			xs, rss, kern = append(xs, float64(n)), append(rss, float64(pt.RSSBytes-pt.RSSBase)), append(kern, float64(pt.KernelDelta)/2)
		}
		a := agg{plan.Median(us), plan.Median(ks), plan.Median(hs), plan.Median(cs), plan.Median(ps)}
		per[n] = a
		heap := "n/a"
		if a.heap != 0 {
			heap = plan.FmtBytes(a.heap)
		}
		r.addf(fmt.Sprintf("N=%d (median of %d)", n, rep), "user %s  kernel %s  heap %s  per conn; idle CPU %.1f%%; %.1f µs CPU per ping answered",
			plan.FmtBytes(a.user), plan.FmtBytes(a.kernel), heap, a.cpu*100, a.ping)
		r.Figures[fmt.Sprintf("user_bytes_per_conn_%d", n)] = a.user
		r.Figures[fmt.Sprintf("kernel_bytes_per_conn_%d", n)] = a.kernel
		r.Figures[fmt.Sprintf("heap_bytes_per_conn_%d", n)] = a.heap
		r.Figures[fmt.Sprintf("idle_cpu_frac_%d", n)] = a.cpu
	}
	top := per[ns[len(ns)-1]]
	sr, sk := slope(xs, rss), slope(xs, kern)
	if len(ns) > 1 {
		r.addf("slope over N", "RSS %s/conn, kernel %s/conn", plan.FmtBytes(sr), plan.FmtBytes(sk))
	}
	r.Figures["slope_rss_bytes"], r.Figures["slope_kernel_bytes"] = sr, sk
	r.Figures["total_bytes_per_conn"] = top.user + top.kernel
	old, _ := plan.ReadPartial(o.Profile)
	if old != nil && old.Floor != nil {
		fl := old.Floor
		r.addf("vs floor", "kernel %s/conn (floor %s, N=%d): user space adds %s per connection on top of the kernel",
			plan.FmtBytes(top.kernel), plan.FmtBytes(fl.KernelBytesPerConn), fl.N, plan.FmtBytes(top.user+top.kernel-fl.KernelBytesPerConn-fl.ProcBytesPerConn))
	}
	if o.Profile != "" {
		p := old
		if p == nil {
			p = &plan.Profile{}
		}
		p.Schema, p.Date, p.GitCommit, p.Command, p.Machine = plan.ProfileSchema, r.Date, r.Commit, r.Command, r.Machine
		p.Engine, p.N = o.Engine, ns[len(ns)-1]
		p.PerConn = plan.PerConn{KernelBytes: top.kernel, UserBytes: top.user, HeapBytes: top.heap, TotalBytes: top.user + top.kernel}
		if len(ns) > 1 {
			p.PerConn.SlopeRSS, p.PerConn.SlopeKernel = sr, sk
		}
		p.Points = r.Points
		p.PerPingCPUMicros = top.ping
		if err := plan.WriteProfile(o.Profile, p); err != nil {
			return r, err
		}
		r.addf("profile", "written to %s", o.Profile)
	}
	return r, nil
}
