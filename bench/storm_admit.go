package bench

import (
	"context"
	"fmt"
	"math"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/starling-ws/starling/bench/procstat"
	"github.com/starling-ws/starling/bench/worker"
)

// runAdmission is `bench storm -m M`, the reconnect storm against a server
// with -accept-rate (issue 10): N subscribers on one channel take a steady
// publish stream (-pub-rate for -duration); a quarter of the way in (at
// most 5 s), M new clients handshake at once from the workers' source
// addresses, each 503 answered by dialling again after its Retry-After.
// It reports the admissions and refusals, the Retry-After values the
// refusals carried, the time until all M were admitted, and what the
// subscribers saw: unexpected closes, lost publishes, delivery latency
// before and during the storm. Every dial retries until the -timeout cap;
// the subscribers are dialled under the accept rate when it is given after
// -- (else at -rate, retrying too).
func runAdmission(ctx context.Context, o *Opts) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	start := time.Now()
	s, err := o.open(ctx, o.N+o.StormM+1, o.prog())
	if err != nil {
		return nil, err
	}
	defer s.close()
	r := newResult("storm", o.N)
	r.note(s.t.Note)
	return r, admissionStorm(ctx, o, s, r, start)
}

// admissionStorm runs the storm on an open session; ctx ends at start +
// o.Timeout.
func admissionStorm(ctx context.Context, o *Opts, s *session, r *Result, start time.Time) error {
	until := start.Add(o.Timeout).UnixNano()
	setupRate := o.Rate
	if o.AcceptRate > 0 && (setupRate == 0 || setupRate > 0.9*o.AcceptRate) {
		setupRate = 0.9 * o.AcceptRate // under the bucket's refill: no refusals while setting up
	}

	// The subscribers, then the publisher: one retrying dial at a time.
	sub := worker.Cmd{Prefix: "storm", Channels: 1, RetryUntil: until}
	if err := startDials(ctx, s.fl, s.t.Addr, s.t.Path, o.N, setupRate, sub); err != nil {
		return err
	}
	if _, err := waitAdmitted(ctx, s.fl, 0, o.N, "subscribers", s.prog); err != nil {
		return err
	}
	if _, err := waitSubacks(ctx, s.fl, 0, o.N, s.prog); err != nil {
		return err
	}
	st, err := s.fl.Stats(ctx)
	if err != nil {
		return err
	}
	pub := worker.Cmd{Pub: true, Prefix: "storm", Channels: 1, RetryUntil: until}
	if err := startDials(ctx, &worker.Fleet{Procs: s.fl.Procs[:1]}, s.t.Addr, s.t.Path, 1, 0, pub); err != nil {
		return err
	}
	if _, err := waitAdmitted(ctx, s.fl, st.Handshakes, 1, "publisher", s.prog); err != nil {
		return err
	}

	// The stream, and the storm a quarter of the way in.
	count := int(math.Ceil(o.PubRate * o.Duration.Seconds()))
	if _, err := s.fl.Each(ctx, func(int, *worker.Proc) (worker.Cmd, bool) { return worker.Cmd{Op: "reset", Seqs: count}, true }); err != nil {
		return err
	}
	st0, err := s.fl.Stats(ctx)
	if err != nil {
		return err
	}
	if _, err := s.fl.Procs[0].Call(ctx, worker.Cmd{Op: "pub", Count: count, Size: o.Size, Rate: o.PubRate, Prefix: "storm", Channels: 1}); err != nil {
		return err
	}
	streamEnd := time.Now().Add(o.Duration)
	lead := min(5*time.Second, o.Duration/4)
	if err := sleepCtx(ctx, lead); err != nil {
		return err
	}
	before, err := swapHists(ctx, s.fl)
	if err != nil {
		return err
	}
	stS, err := s.fl.Stats(ctx)
	if err != nil {
		return err
	}
	c0, _ := s.smp.Take()
	x0 := procstat.ListenCounters()
	tS := time.Now()
	if err := startDials(ctx, s.fl, s.t.Addr, s.t.Path, o.StormM, 0, worker.Cmd{RetryUntil: until}); err != nil {
		return err
	}
	// Leave 15 s of the cap for the stream's tail and the accounts.
	stormCtx, stormCancel := context.WithDeadline(ctx, start.Add(o.Timeout-15*time.Second))
	stA, err := waitAdmitted(stormCtx, s.fl, stS.Handshakes, o.StormM, "storm", s.prog)
	stormCancel()
	admitTime := time.Since(tS)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		r.note(fmt.Sprintf("not every storm client was admitted before the -timeout cap: %d of %d", stA.Handshakes-stS.Handshakes, o.StormM))
	}
	c1, _ := s.smp.Take()
	lt, lf := listenTrouble(x0, procstat.ListenCounters())
	during, err := swapHists(ctx, s.fl)
	if err != nil {
		return err
	}
	stormOverStream := time.Now().After(streamEnd)

	// The stream's tail: every delivery, or 3 s without one after the last
	// publish, or 10 s past the stream's planned end.
	expected := int64(o.N) * int64(count)
	stN, err := waitDelivered(ctx, s.fl, st0, count, expected, streamEnd.Add(10*time.Second), s.prog)
	if err != nil {
		return err
	}
	evs, err := s.fl.Each(ctx, func(int, *worker.Proc) (worker.Cmd, bool) { return worker.Cmd{Op: "hist"}, true })
	if err != nil {
		return err
	}
	got := make([]int64, count)
	for _, e := range evs {
		for i := range min(len(e.Got), count) {
			got[i] += int64(e.Got[i])
		}
	}
	short := 0
	for _, g := range got {
		if g < int64(o.N) {
			short++
		}
	}

	admitted := stA.Handshakes - stS.Handshakes
	refused := stA.Refused503 - stS.Refused503
	ra := make([]int64, len(stA.RetryAfter))
	for i := range ra {
		ra[i] = stA.RetryAfter[i]
		if i < len(stS.RetryAfter) {
			ra[i] -= stS.RetryAfter[i]
		}
	}
	r.addf("setup", "%d subscribers on one channel, %d publishes of %d B at %.0f/s; storm of %d new clients %.1f s in, from %d workers x 8 source addresses; serve %v",
		o.N, count, o.Size, o.PubRate, o.StormM, lead.Seconds(), len(s.fl.Procs), o.Extra)
	r.addf("storm clients", "%d of %d admitted; %d refusals with 503 (%.2f per client), %d other non-101 replies, %d closed before a reply, %d dial errors, %d redials",
		admitted, o.StormM, refused, float64(refused)/float64(o.StormM), stA.Rejected-stS.Rejected-refused,
		stA.ConnFail-stS.ConnFail, stA.DialErr-stS.DialErr, stA.Retries-stS.Retries)
	r.addf("Retry-After", "%s", retryAfterSummary(ra, r))
	ideal := ""
	if o.AcceptRate > 0 {
		ideal = fmt.Sprintf(" (M / -accept-rate = %.1f s: %.2fx)", float64(o.StormM)/o.AcceptRate, admitTime.Seconds()*o.AcceptRate/float64(o.StormM))
	}
	r.addf("time to admit all", "%v%s", admitTime.Round(time.Millisecond), ideal)
	r.addf("subscribers", "%d closed unexpectedly (subscribers, publisher and admitted storm clients); %d of %d publishes reached fewer than %d subscribers; deliveries %d of %d (lost %d)",
		stN.Unexpected-st0.Unexpected, short, count, o.N, stN.Msgs-st0.Msgs, expected, expected-(stN.Msgs-st0.Msgs))
	lb, ld := summarize(before), summarize(during)
	span := "until all were admitted"
	if stormOverStream {
		span = "until the stream ended (the storm outlasted it)"
	}
	r.addf("delivery latency", "before the storm p50 %s p99 %s max %s (%d deliveries); during it (%s) p50 %s p99 %s max %s (%d)",
		us(lb.P50), us(lb.P99), us(lb.Max), lb.Count, span, us(ld.P50), us(ld.P99), us(ld.Max), ld.Count)
	r.addf("server CPU", "%.3f s during the storm", c1.CPU-c0.CPU)
	r.addf("kernel listen queue", "%s", lt)
	r.Latency = ld
	for k, v := range map[string]float64{
		"admitted": float64(admitted), "refused_503": float64(refused), "admit_all_s": admitTime.Seconds(),
		"unexpected_closed": float64(stN.Unexpected - st0.Unexpected), "publishes_short": float64(short),
		"deliveries_lost": float64(expected - (stN.Msgs - st0.Msgs)),
		"p50_before_us":   float64(lb.P50), "p99_before_us": float64(lb.P99), "p50_during_us": float64(ld.P50), "p99_during_us": float64(ld.P99),
	} {
		r.Figures[k] = v
	}
	for k, v := range lf {
		r.Figures[k] = v
	}
	return nil
}

// waitAdmitted polls until n more connections than before were upgraded.
func waitAdmitted(ctx context.Context, fl *worker.Fleet, before int64, n int, phase string, prog *Progress) (worker.WStats, error) {
	for {
		st, err := fl.Stats(ctx)
		if err != nil {
			return st, err
		}
		prog.Show(phase, st, false)
		if st.Handshakes-before >= int64(n) {
			prog.Show(phase, st, true)
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("%s: %d of %d admitted before the time cap: %w", phase, st.Handshakes-before, n, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitDelivered waits for the stream of count publishes to be sent and
// its expected deliveries to arrive: until all did, or 3 s passed without
// one after the last publish, or the deadline.
func waitDelivered(ctx context.Context, fl *worker.Fleet, st0 worker.WStats, count int, expected int64, deadline time.Time, prog *Progress) (worker.WStats, error) {
	var last time.Time
	prev := int64(-1)
	for {
		st, err := fl.Stats(ctx)
		if err != nil {
			return st, err
		}
		prog.Show("stream", st, false)
		got := st.Msgs - st0.Msgs
		if got != prev {
			prev, last = got, time.Now()
		}
		sent := st.Published+st.PubErr-st0.Published-st0.PubErr >= int64(count)
		if got >= expected || (sent && time.Since(last) > 3*time.Second) || time.Now().After(deadline) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// swapHists gathers the workers' latency histograms and starts new ones.
func swapHists(ctx context.Context, fl *worker.Fleet) (*hdr.Histogram, error) {
	evs, err := fl.Each(ctx, func(int, *worker.Proc) (worker.Cmd, bool) { return worker.Cmd{Op: "swaphist"}, true })
	h := worker.NewHist()
	for _, e := range evs {
		if e.Hist != nil {
			h.Merge(hdr.Import(e.Hist))
		}
	}
	return h, err
}

// retryAfterSummary describes the Retry-After values of the refusals
// (ra[v] = refusals that said v seconds) and records their figures.
func retryAfterSummary(ra []int64, r *Result) string {
	var n, sum int64
	lo, hi, distinct := -1, -1, 0
	for v, c := range ra {
		if c > 0 {
			distinct++
			if lo < 0 {
				lo = v
			}
			hi, n, sum = v, n+c, sum+int64(v)*c
		}
	}
	if n == 0 {
		return "no refusals"
	}
	quantile := func(q float64) int { // the smallest value with at least q of the refusals at or below it
		var cum int64
		for v, c := range ra {
			if cum += c; float64(cum) >= q*float64(n) {
				return v
			}
		}
		return hi
	}
	mean := float64(sum) / float64(n)
	var sq float64
	for v, c := range ra {
		sq += float64(c) * (float64(v) - mean) * (float64(v) - mean)
	}
	sd := math.Sqrt(sq / float64(n))
	r.Figures["retry_after_distinct"], r.Figures["retry_after_min_s"], r.Figures["retry_after_max_s"] = float64(distinct), float64(lo), float64(hi)
	r.Figures["retry_after_mean_s"], r.Figures["retry_after_sd_s"] = mean, sd
	return fmt.Sprintf("%d distinct values from %d to %d s over %d refusals; median %d s, p90 %d s, mean %.1f s, sd %.1f s",
		distinct, lo, hi, n, quantile(0.5), quantile(0.9), mean, sd)
}

// us formats microseconds for a table cell.
func us(v int64) string {
	if v >= 10_000 {
		return fmt.Sprintf("%.1f ms", float64(v)/1e3)
	}
	return fmt.Sprintf("%d µs", v)
}

// sleepCtx waits d unless ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
