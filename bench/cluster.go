package bench

import (
	"context"
	"fmt"
	"runtime"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/starling-ws/starling/bench/plan"
	"github.com/starling-ws/starling/bench/procstat"
	"github.com/starling-ws/starling/bench/worker"
)

// RunCluster is `starling bench cluster`: one node of -procs `starling
// serve -nats` processes (a process here may hold at most 20,000 sockets)
// sharing one channel space through an embedded NATS server, holding -n
// WebSocket subscribers on one channel ("bc"), each also subscribed to a
// channel of its own. Phase 1: -publishes publishes of -size bytes on bc,
// paced at -pub-rate, from one publisher on the first process: the time
// until the last of N subscribers had each, lost and duplicated (by the
// sequence the data carries: cluster offsets skip), server CPU per
// delivery. Phase 2: the same publishes again while the last process is
// drained (SIGTERM: 1001 to its clients, spread over 5 s); its clients
// reconnect to the others and resume with since. When the others cannot
// hold them (the descriptor cap), a standby process is started first, as a
// rolling restart does. Bounded: -timeout caps the run; every child is
// stopped on return.
func RunCluster(ctx context.Context, o *Opts) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	prog := o.prog()
	r := newResult("cluster", o.N)
	per := (o.N + o.Procs - 1) / o.Procs
	maxConns := min(worker.MaxPerWorker+500, 19500)
	if per+1 > maxConns {
		return nil, fmt.Errorf("-n %d over -procs %d is %d connections per process; at most %d here (RLIMIT_NOFILE)", o.N, o.Procs, per, maxConns-1)
	}
	if hard := procstat.NoFileHard(); hard < uint64(maxConns)+100 {
		r.note(fmt.Sprintf("RLIMIT_NOFILE hard limit %d: a server process needs %d", hard, maxConns+100))
	}
	if sc := somaxconn(); sc > 0 && float64(sc) < o.Rate/float64(o.Procs) {
		r.note(fmt.Sprintf("net.core.somaxconn %d is below one process's share of -rate", sc))
	}
	load0 := procstat.LoadAvg()
	prog.W.Write(fmt.Appendf(nil, "cluster: starting NATS and %d servers\n", o.Procs))
	cp, err := startClusterProcs(ctx, o.Procs, maxConns, o.Extra)
	if err != nil {
		return nil, err
	}
	defer cp.stop()
	fl, err := worker.StartFleet(ctx, o.N+1, o.PerWorker)
	if err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	defer fl.Stop()
	s := &session{fl: fl, prog: prog}
	c := &clusterRun{o: o, cp: cp, s: s, r: r}
	if err := c.connect(ctx); err != nil {
		return nil, err
	}
	if err := c.phase(ctx, 1, nil); err != nil {
		return nil, err
	}
	if err := c.phase(ctx, 2, c.drainLast); err != nil {
		return nil, err
	}
	r.addf("load average (1 min)", "%.2f before, %.2f after (shared machine, %d cores)", load0, procstat.LoadAvg(), runtime.NumCPU())
	return r, nil
}

// clusterRun is one run's state.
type clusterRun struct {
	o      *Opts
	cp     *clusterProcs
	s      *session
	r      *Result
	cnt    [][]int // cnt[w][j]: worker w's subscribers on server j
	n      int     // servers the subscribers were spread over
	moving int     // subscribers of the drained server
}

// connect spreads N subscribers over the servers (subscriber g on server
// g % procs), each on bc and on a channel of its own, and measures the
// servers' memory per connection.
func (c *clusterRun) connect(ctx context.Context) error {
	o, fl := c.o, c.s.fl
	c.n = len(c.cp.servers)
	m0 := sumProcs(c.cp.pids())
	parts := fl.Split(o.N)
	c.cnt = make([][]int, len(parts))
	base := 0
	for w, p := range parts {
		c.cnt[w] = make([]int, c.n)
		for g := base; g < base+p; g++ {
			c.cnt[w][g%c.n]++
		}
		base += p
	}
	before, err := fl.Stats(ctx)
	if err != nil {
		return err
	}
	t0 := time.Now()
	for j, t := range c.cp.servers {
		if _, err := fl.Each(ctx, func(w int, p *worker.Proc) (worker.Cmd, bool) {
			return worker.Cmd{Op: "dial", Addr: t.Addr, Path: t.Path, LAddrs: p.LAddrs, N: c.cnt[w][j],
				Rate: o.Rate / float64(len(parts)*c.n), Prefix: "bc", Channels: 1, Resume: true, Seq: true,
				Own: fmt.Sprintf("u%d.", w)}, c.cnt[w][j] > 0
		}); err != nil {
			return err
		}
	}
	st, err := waitOutcomes(ctx, fl, before, o.N, "connect", c.s.prog)
	if err != nil {
		return err
	}
	if st.Open < int64(o.N) {
		return fmt.Errorf("%d of %d subscribers connected (%d failed, %d rejected)", st.Open, o.N, st.ConnFail+st.DialErr, st.Rejected)
	}
	if _, err := waitSubacks(ctx, fl, before.Subacks, 2*o.N, c.s.prog); err != nil {
		return err
	}
	took := time.Since(t0)
	m1 := sumProcs(c.cp.pids())
	perConn := float64(m1.rss-m0.rss) / float64(o.N)
	c.r.addf("node", "%d `starling serve -nats` processes on ports %s..., one embedded NATS server (JetStream, memory storage) in the bench process",
		c.n, c.cp.servers[0].Addr)
	c.r.addf("connections held", "%d WebSocket subscribers (%d per process), each on bc and on a channel of its own: %d subscriptions, %d channels; connected and subscribed in %v",
		st.Open, o.N/c.n, 2*o.N, o.N+1, took.Round(time.Millisecond))
	c.r.addf("server RSS", "%.1f MiB before, %.1f MiB after, all %d processes: %.0f B per connection (two subscriptions each)",
		float64(m0.rss)/(1<<20), float64(m1.rss)/(1<<20), c.n, perConn)
	c.r.Figures["connections"] = float64(st.Open)
	c.r.Figures["rss_per_conn_bytes"] = perConn
	c.r.Figures["rss_total_mib"] = float64(m1.rss) / (1 << 20)
	// The publisher: one connection to the first server.
	p0 := fl.Procs[0]
	before, _ = fl.Stats(ctx)
	if _, err := p0.Call(ctx, worker.Cmd{Op: "dial", Addr: c.cp.servers[0].Addr, Path: "/ws", LAddrs: p0.LAddrs, N: 1, Pub: true, Prefix: "bc", Channels: 1}); err != nil {
		return err
	}
	_, err = waitOutcomes(ctx, fl, before, 1, "publisher", c.s.prog)
	return err
}

// phase runs -publishes publishes on bc; during, if set, runs once a few
// are acked (the drain) and returns a wait for its end.
func (c *clusterRun) phase(ctx context.Context, k int, during func(context.Context) (func() error, error)) error {
	o, fl, s := c.o, c.s.fl, c.s
	base := (k - 1) * o.Publishes
	if _, err := fl.Each(ctx, func(int, *worker.Proc) (worker.Cmd, bool) {
		return worker.Cmd{Op: "reset", Seqs: o.Publishes, SeqBase: base}, true
	}); err != nil {
		return err
	}
	st0, err := fl.Stats(ctx)
	if err != nil {
		return err
	}
	track, self0 := newCPUTrack(c.cp.pids()), selfCPU()
	wk0 := sumProcs(fl.PIDs())
	t0 := time.Now()
	if _, err := fl.Procs[0].Call(ctx, worker.Cmd{Op: "pub", Count: o.Publishes, Size: o.Size, Rate: o.PubRate, Prefix: "bc", Channels: 1, SeqBase: base}); err != nil {
		return err
	}
	var wait func() error
	if during != nil {
		if _, err := pollStats(ctx, s, "publish", 0, func(x worker.WStats) bool { return x.Pubacks-st0.Pubacks >= 3 }); err != nil {
			return err
		}
		if wait, err = during(ctx); err != nil {
			return err
		}
	}
	final := uint64(base + o.Publishes - 1)
	expected := int64(o.N) * int64(o.Publishes)
	var stN worker.WStats
	var tail worker.WStats
	var elapsed time.Duration
	for last, prev := time.Now(), int64(-1); ; {
		if stN, err = pollStats(ctx, s, "publish", 200*time.Millisecond, func(worker.WStats) bool { return false }); err != nil {
			return err
		}
		track.look(c.cp.pids())
		got := stN.Msgs - st0.Msgs
		if got != prev {
			prev, last, elapsed = got, time.Now(), time.Since(t0)
		}
		pubsDone := stN.Pubacks+stN.ErrReplies-st0.Pubacks-st0.ErrReplies >= int64(o.Publishes)
		if pubsDone {
			if tail, err = c.tail(ctx, final); err != nil {
				return err
			}
			moved := stN.Failovers - st0.Failovers
			resolved := stN.CaughtUp + stN.NotRecovered - st0.CaughtUp - st0.NotRecovered
			if tail.Behind == 0 && (wait == nil || moved >= int64(c.moving) && resolved >= moved) {
				break
			}
		}
		if pubsDone && time.Since(last) > 5*time.Second {
			c.r.note(fmt.Sprintf("phase %d: stopped waiting, nothing delivered for 5 s after the last publish", k))
			break
		}
	}
	track.look(c.cp.pids())
	self1 := selfCPU()
	wk1 := sumProcs(fl.PIDs())
	if wait != nil {
		if err := wait(); err != nil {
			return err
		}
	}
	lastMs, err := c.lastPerPublish(ctx)
	if err != nil {
		return err
	}
	received := stN.Msgs - st0.Msgs
	name := map[int]string{1: "steady", 2: "drain"}[k]
	med, mx := plan.Median(lastMs), maxf(lastMs)
	cpu, userCPU := track.used()
	perDel := 0.0
	if received > 0 {
		perDel = cpu * 1e6 / float64(received)
	}
	c.r.addf(fmt.Sprintf("%s: publishes", name), "%d of %d B on bc at %.2f/s, %d acked, %d err replies; deliveries %d (%d expected for the subscribers held at the start), over %v",
		o.Publishes, o.Size, o.PubRate, stN.Pubacks-st0.Pubacks, stN.ErrReplies-st0.ErrReplies, received, expected, elapsed.Round(time.Millisecond))
	c.r.addf(fmt.Sprintf("%s: until the last subscriber", name), "median %.1f ms, max %.1f ms over %d publishes (per publish: %s)", med, mx, len(lastMs), fmtMs(lastMs))
	c.r.addf(fmt.Sprintf("%s: lost / duplicated", name), "%d lost (sequence gaps %d, %d subscribers short of the last publish by %d), %d duplicated",
		stN.Lost-st0.Lost+tail.Missing, stN.Lost-st0.Lost, tail.Behind, tail.Missing, stN.Dups-st0.Dups)
	c.r.addf(fmt.Sprintf("%s: CPU", name), "servers %.2f s = %.2f µs per delivery (user %.2f µs); NATS + bench process %.2f s; workers %.2f s",
		cpu, perDel, userCPU*1e6/float64(max(received, 1)), self1-self0, wk1.cpu-wk0.cpu)
	f := func(key string, v float64) { c.r.Figures[name+"_"+key] = v }
	f("last_subscriber_ms_median", med)
	f("last_subscriber_ms_max", mx)
	f("lost", float64(stN.Lost-st0.Lost+tail.Missing))
	f("duplicated", float64(stN.Dups-st0.Dups))
	f("cpu_us_per_delivery", perDel)
	f("deliveries", float64(received))
	if k == 2 {
		c.r.addf("drain: resumed", "%d subscribers closed by the drain and redialled: %d resumed, %d recovered:true, %d recovered:false",
			stN.Failovers-st0.Failovers, stN.Resumed-st0.Resumed, stN.Recovered-st0.Recovered, stN.NotRecovered-st0.NotRecovered)
		rec, err := c.recHist(ctx)
		if err != nil {
			return err
		}
		ms := func(us int64) float64 { return float64(us) / 1e3 }
		c.r.addf("drain: time to recover", "from its close to its replay caught up: p50 %.1f ms, p99 %.1f ms, max %.1f ms (n=%d)",
			ms(rec.ValueAtQuantile(50)), ms(rec.ValueAtQuantile(99)), ms(rec.Max()), rec.TotalCount())
		f("moved", float64(stN.Failovers-st0.Failovers))
		f("recovered", float64(stN.Recovered-st0.Recovered))
		f("not_recovered", float64(stN.NotRecovered-st0.NotRecovered))
		f("recover_p50_ms", ms(rec.ValueAtQuantile(50)))
		f("recover_max_ms", ms(rec.Max()))
	}
	return nil
}

// drainLast is phase 2's event: the failover plan, then SIGTERM to the
// last server. It returns a wait for that server's exit.
func (c *clusterRun) drainLast(ctx context.Context) (func() error, error) {
	d := c.n - 1
	held := c.o.N / c.n
	type target struct {
		addr  string
		spare int
	}
	var ts []target
	spare := 0
	for j := 0; j < c.n; j++ {
		if j != d {
			sp := max(c.cp.maxConn-held-200, 0)
			ts = append(ts, target{c.cp.servers[j].Addr, sp})
			spare += sp
		}
	}
	moving := 0
	for w := range c.cnt {
		moving += c.cnt[w][d]
	}
	c.moving = moving
	if spare < moving || c.o.Standby {
		t, err := c.cp.add(ctx)
		if err != nil {
			return nil, fmt.Errorf("standby: %w", err)
		}
		c.r.note(fmt.Sprintf("the other %d processes can take %d of the %d clients the drain moves (RLIMIT_NOFILE caps a process at 20,000 here), so a standby process was started first, as a rolling restart would", c.n-1, spare, moving))
		ts = append(ts, target{t.Addr, c.cp.maxConn - 200})
		spare += c.cp.maxConn - 200
	}
	// Each worker sends its movers to the targets in proportion to spare.
	if _, err := c.s.fl.Each(ctx, func(w int, p *worker.Proc) (worker.Cmd, bool) {
		cmd := worker.Cmd{Op: "failover", LAddrs: p.LAddrs}
		left := c.cnt[w][d]
		for i, t := range ts {
			n := c.cnt[w][d] * t.spare / spare
			if i == len(ts)-1 {
				n = left
			}
			n = min(n, left)
			left -= n
			cmd.Failover = append(cmd.Failover, t.addr)
			cmd.FailoverN = append(cmd.FailoverN, n)
		}
		return cmd, true
	}); err != nil {
		return nil, err
	}
	c.r.addf("drain", "SIGTERM to process %d (%s) after the third publish: 1001 to its %d clients, spread over half of -drain-timeout (%s); they move to %d other processes and resume with since",
		d+1, c.cp.servers[d].Addr, moving, c.cp.drainTimeout(), len(ts))
	done := make(chan struct{})
	go func() { c.cp.servers[d].Stop(); close(done) }()
	return func() error {
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("drained server did not exit: %w", ctx.Err())
		}
	}, nil
}

// tail asks every worker how many subscribers lack the final sequence.
func (c *clusterRun) tail(ctx context.Context, final uint64) (worker.WStats, error) {
	evs, err := c.s.fl.Each(ctx, func(int, *worker.Proc) (worker.Cmd, bool) { return worker.Cmd{Op: "tail", Final: final}, true })
	var t worker.WStats
	for _, e := range evs {
		if e.Stats != nil {
			t.Behind += e.Stats.Behind
			t.Missing += e.Stats.Missing
		}
	}
	return t, err
}

// lastPerPublish is, per publish of the phase, the latest delivery's
// latency over every worker, in ms.
func (c *clusterRun) lastPerPublish(ctx context.Context) ([]float64, error) {
	evs, err := c.s.fl.Each(ctx, func(int, *worker.Proc) (worker.Cmd, bool) { return worker.Cmd{Op: "hist"}, true })
	if err != nil {
		return nil, err
	}
	last := make([]int64, c.o.Publishes)
	for _, e := range evs {
		for i := range min(len(e.Last), len(last)) {
			last[i] = max(last[i], e.Last[i])
		}
	}
	out := make([]float64, len(last))
	for i, v := range last {
		out[i] = float64(v) / 1e6
	}
	return out, nil
}

func (c *clusterRun) recHist(ctx context.Context) (*hdr.Histogram, error) {
	rec := worker.NewHist()
	evs, err := c.s.fl.Each(ctx, func(int, *worker.Proc) (worker.Cmd, bool) { return worker.Cmd{Op: "rechist"}, true })
	for _, e := range evs {
		if e.Hist != nil {
			rec.Merge(hdr.Import(e.Hist))
		}
	}
	return rec, err
}

func fmtMs(v []float64) string {
	b := make([]byte, 0, 8*len(v))
	for i, x := range v {
		if i > 0 {
			b = append(b, ' ')
		}
		b = fmt.Appendf(b, "%.0f", x)
	}
	return string(b)
}
