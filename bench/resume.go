package bench

import (
	"context"
	"fmt"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/starling-ws/starling/bench/procstat"
	"github.com/starling-ws/starling/bench/worker"
)

// RunResume holds N subscribers over -channels channels, each channel fed
// by one publisher at a steady rate (-pub-rate over all channels,
// -publishes per channel). A third of the way into the stream it closes
// -fraction of the subscribers at once from the client side, without a
// close frame (what a dropped network or a crashed node looks like to the
// resume logic), and dials as many, which subscribe with since = the cut
// connection's last offset and epoch. It reports offsets lost and
// duplicated over every subscriber, how many resumes were recovered, and
// the time from the cut until each replacement had replayed up to the
// offset its ack announced.
func RunResume(ctx context.Context, o *Opts) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	s, err := o.open(ctx, o.N+o.Channels, o.prog())
	if err != nil {
		return nil, err
	}
	defer s.close()
	r := newResult("resume", o.N)
	r.note(s.t.Note)
	return r, runResume(ctx, o, s, r)
}

// runResume is the run on an open session (tests bring their own server).
func runResume(ctx context.Context, o *Opts, s *session, r *Result) error {
	load0 := procstat.LoadAvg()
	// Fresh channel names, so that an attached server's older channels
	// (other offsets, other epochs) play no part.
	prefix := fmt.Sprintf("rs%d.", time.Now().UnixNano()%1_000_000)
	st, err := s.dial(ctx, o, o.N, worker.Cmd{Prefix: prefix, Channels: o.Channels, Resume: true})
	if err != nil {
		return err
	}
	if st.Open < int64(o.N) {
		return fmt.Errorf("resume: %d of %d subscribers connected (%d failed, %d rejected)", st.Open, o.N, st.ConnFail+st.DialErr, st.Rejected)
	}
	if _, err = waitSubacks(ctx, s.fl, 0, o.N, s.prog); err != nil {
		return err
	}
	// One publisher per channel, all on worker 0: publisher k feeds
	// channel k, so channel k's offsets run 1..-publishes.
	p0 := s.fl.Procs[0]
	before, _ := s.fl.Stats(ctx)
	if _, err := p0.Call(ctx, worker.Cmd{Op: "dial", Addr: s.t.Addr, Path: s.t.Path, LAddrs: p0.LAddrs, N: o.Channels, Pub: true, Prefix: prefix, Channels: o.Channels}); err != nil {
		return err
	}
	if _, err := waitOutcomes(ctx, s.fl, before, o.Channels, "publishers", s.prog); err != nil {
		return err
	}
	total := int64(o.Publishes) * int64(o.Channels)
	if _, err := p0.Call(ctx, worker.Cmd{Op: "pub", Count: o.Publishes, Size: o.Size, Rate: o.PubRate, Prefix: prefix, Channels: o.Channels}); err != nil {
		return err
	}
	st, err = pollStats(ctx, s, "publish", 0, func(st worker.WStats) bool { return st.Published >= total/3 })
	if err != nil {
		return err
	}

	k := int(float64(o.N) * o.Fraction)
	parts := s.fl.Split(k)
	c0, _ := s.smp.Take()
	t0 := time.Now()
	if _, err := s.fl.Each(ctx, func(i int, p *worker.Proc) (worker.Cmd, bool) {
		return worker.Cmd{Op: "cut", N: parts[i], Addr: s.t.Addr, LAddrs: p.LAddrs}, parts[i] > 0
	}); err != nil {
		return err
	}
	cutAtPub := st.Published
	st2, err := waitOutcomes(ctx, s.fl, st, k, "reconnect", s.prog)
	if err != nil {
		return err
	}
	// Every replacement resolved (caught up after recovered:true, or told
	// recovered:false), within the window; a failed dial never resolves.
	st2, err = pollStats(ctx, s, "resume", resumeWindow, func(x worker.WStats) bool {
		return x.CaughtUp+x.NotRecovered >= int64(k)
	})
	if err != nil {
		return err
	}
	allBack := time.Since(t0)
	if st2.CaughtUp+st2.NotRecovered < int64(k) {
		r.note(fmt.Sprintf("after the %v window, %d of %d replacements had not caught up", resumeWindow, int64(k)-st2.CaughtUp-st2.NotRecovered, k))
	}
	c1, _ := s.smp.Take()
	// The end of the stream: every subscriber must hold every offset.
	st3, err := pollStats(ctx, s, "drain", 0, func(x worker.WStats) bool {
		return x.Published+x.PubErr >= total && x.Pubacks+x.ErrReplies >= x.Published
	})
	if err != nil {
		return err
	}
	final := uint64(o.Publishes)
	var tail worker.WStats
	for end := time.Now().Add(10 * time.Second); ; {
		evs, err := s.fl.Each(ctx, func(int, *worker.Proc) (worker.Cmd, bool) { return worker.Cmd{Op: "tail", Final: final}, true })
		if err != nil {
			return err
		}
		tail = worker.WStats{}
		for _, e := range evs {
			if e.Stats != nil {
				tail.Behind += e.Stats.Behind
				tail.Missing += e.Stats.Missing
			}
		}
		if tail.Behind == 0 || time.Now().After(end) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	stE, _ := s.fl.Stats(ctx)
	rec := worker.NewHist()
	evs, err := s.fl.Each(ctx, func(int, *worker.Proc) (worker.Cmd, bool) { return worker.Cmd{Op: "rechist"}, true })
	if err != nil {
		return err
	}
	for _, e := range evs {
		if e.Hist != nil {
			rec.Merge(hdr.Import(e.Hist))
		}
	}
	resumeReport(r, o, resumeFigures{k: k, cutAtPub: cutAtPub, total: total, st: stE, pubs: st3, tail: tail,
		rec: rec, allBack: allBack, serverCPU: c1.CPU - c0.CPU, refused: st2.Rejected - st.Rejected + st2.ConnFail - st.ConnFail + st2.DialErr - st.DialErr,
		load0: load0, load1: procstat.LoadAvg()})
	return nil
}

// resumeWindow bounds the wait for the cut subscribers to be back and
// caught up; the report says how many were by then.
const resumeWindow = time.Minute

// pollStats polls the fleet's counters until done says so, or limit (0:
// only the run's time cap) has passed.
func pollStats(ctx context.Context, s *session, phase string, limit time.Duration, done func(worker.WStats) bool) (worker.WStats, error) {
	start := time.Now()
	for {
		st, err := s.fl.Stats(ctx)
		if err != nil {
			return st, err
		}
		s.prog.Show(phase, st, false)
		if done(st) || limit > 0 && time.Since(start) > limit {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("%s: not done before the time cap: %w", phase, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type resumeFigures struct {
	k               int
	cutAtPub, total int64
	st, pubs, tail  worker.WStats
	rec             *hdr.Histogram
	allBack         time.Duration
	serverCPU       float64
	refused         int64
	load0, load1    float64
}

func resumeReport(r *Result, o *Opts, f resumeFigures) {
	ms := func(us int64) float64 { return float64(us) / 1e3 }
	perCh := o.PubRate / float64(o.Channels)
	lost := f.st.Lost + f.tail.Missing
	r.addf("stream", "%d channels (%d subscribers each), 1 publisher per channel, %d publishes of %d B at %.0f/s (%.2f/s per channel)",
		o.Channels, o.N/o.Channels, f.total, o.Size, o.PubRate, perCh)
	r.addf("cut", "%d of %d (%.0f%%) closed at once without a close frame after publish %d of %d; redialled unpaced with since",
		f.k, o.N, o.Fraction*100, f.cutAtPub, f.total)
	r.addf("resumed", "%d subs with since: %d recovered:true, %d recovered:false; %d dials refused or failed",
		f.st.Resumed, f.st.Recovered, f.st.NotRecovered, f.refused)
	r.addf("time to recover (ms)", "cut to replay caught up: p50 %.1f  p99 %.1f  max %.1f  (n=%d); all %d back in %v (polled)",
		ms(f.rec.ValueAtQuantile(50)), ms(f.rec.ValueAtQuantile(99)), ms(f.rec.Max()), f.rec.TotalCount(), f.k, f.allBack.Round(time.Millisecond))
	r.addf("lost", "%d offsets (%d skipped in streams, %d missing at the end over %d subscribers behind)", lost, f.st.Lost, f.tail.Missing, f.tail.Behind)
	r.addf("duplicated", "%d offsets received twice", f.st.Dups)
	r.addf("publishes", "%d written, %d acked, %d write errors, %d err replies", f.pubs.Published, f.pubs.Pubacks, f.pubs.PubErr, f.st.ErrReplies)
	r.addf("other connections", "%d closed unexpectedly", f.st.Unexpected)
	r.addf("server CPU", "%.3f s from the cut until every replacement was resolved", f.serverCPU)
	r.addf("load average (1 min)", "%.2f before, %.2f after (shared machine)", f.load0, f.load1)
	r.Figures["lost"] = float64(lost)
	r.Figures["duplicated"] = float64(f.st.Dups)
	r.Figures["cut"] = float64(f.k)
	r.Figures["recovered"] = float64(f.st.Recovered)
	r.Figures["not_recovered"] = float64(f.st.NotRecovered)
	r.Figures["recover_p50_ms"] = ms(f.rec.ValueAtQuantile(50))
	r.Figures["recover_p99_ms"] = ms(f.rec.ValueAtQuantile(99))
	r.Figures["recover_max_ms"] = ms(f.rec.Max())
	r.Figures["all_back_ms"] = float64(f.allBack.Microseconds()) / 1e3
	r.Figures["load1_before"], r.Figures["load1_after"] = f.load0, f.load1
	if f.st.Recovered+f.st.NotRecovered < int64(f.k) {
		r.note(fmt.Sprintf("%d of %d cut subscribers never got a resume answer", int64(f.k)-f.st.Recovered-f.st.NotRecovered, f.k))
	}
	if f.pubs.Pubacks < f.total {
		r.note(fmt.Sprintf("only %d of %d publishes were acknowledged: the end-of-stream offsets are short", f.pubs.Pubacks, f.total))
	}
}
