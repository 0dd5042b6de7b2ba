package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/starling-ws/starling/bench/procstat"
	"github.com/starling-ws/starling/bench/worker"
)

// RunStorm holds N subscribers, drops -fraction of them at once and redials
// them unpaced; it reports the time to recover, refused handshakes, and
// whether the connections left alone noticed (closes, and a probe publish
// that must reach all N afterwards). With -m it runs the admission storm
// instead (runAdmission).
func RunStorm(ctx context.Context, o *Opts) (*Result, error) {
	if o.StormM > 0 {
		return runAdmission(ctx, o) // the storm against -accept-rate (storm_admit.go)
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if o.Fraction <= 0 || o.Fraction > 1 {
		return nil, fmt.Errorf("-fraction must be in (0, 1], got %v", o.Fraction)
	}
	s, err := o.open(ctx, o.N+1, o.prog())
	if err != nil {
		return nil, err
	}
	defer s.close()
	r := newResult("storm", o.N)
	r.note(s.t.Note)
	st, err := s.dial(ctx, o, o.N, worker.Cmd{Prefix: "st", Channels: 1})
	if err != nil {
		return nil, err
	}
	if st.Open < int64(o.N) {
		return nil, fmt.Errorf("storm: %d of %d connections open before the storm", st.Open, o.N)
	}
	if st, err = waitSubacks(ctx, s.fl, 0, o.N, s.prog); err != nil {
		return nil, err
	}
	k := int(float64(o.N) * o.Fraction)
	parts := s.fl.Split(k)
	x0 := procstat.ListenCounters()
	c0, _ := s.smp.Take()
	t0 := time.Now()
	if _, err := s.fl.Each(ctx, func(i int, p *worker.Proc) (worker.Cmd, bool) {
		return worker.Cmd{Op: "drop", N: parts[i], Addr: s.t.Addr, LAddrs: p.LAddrs}, parts[i] > 0
	}); err != nil {
		return nil, err
	}
	st2, err := waitOutcomes(ctx, s.fl, st, k, "storm", s.prog)
	if err != nil {
		return nil, err
	}
	if st2, err = waitSubacks(ctx, s.fl, st.Subacks, k, s.prog); err != nil {
		return nil, err
	}
	rec := time.Since(t0)
	c1, _ := s.smp.Take()
	lt, lf := listenTrouble(x0, procstat.ListenCounters())
	unexpected := st2.Unexpected - st.Unexpected
	// Probe: one publish must reach every subscriber, old and new.
	pst, _ := s.fl.Stats(ctx)
	if _, err := s.fl.Procs[0].Call(ctx, worker.Cmd{Op: "dial", Addr: s.t.Addr, Path: s.t.Path, LAddrs: s.fl.Procs[0].LAddrs, N: 1, Pub: true, Prefix: "st", Channels: 1}); err != nil {
		return nil, err
	}
	if _, err := waitOutcomes(ctx, s.fl, pst, 1, "probe", s.prog); err != nil {
		return nil, err
	}
	if _, err := s.fl.Procs[0].Call(ctx, worker.Cmd{Op: "pub", Count: 1, Size: 16, Prefix: "st", Channels: 1}); err != nil {
		return nil, err
	}
	var probe int64
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		cur, err := s.fl.Stats(ctx)
		if err != nil {
			return nil, err
		}
		if probe = cur.Msgs - pst.Msgs; probe >= int64(o.N) {
			break
		}
	}
	r.addf("storm", "dropped %d of %d (%.0f%%) at once, redialled unpaced", k, o.N, o.Fraction*100)
	r.addf("time to recover", "%v until all %d were upgraded and subscribed again", rec.Round(time.Millisecond), k)
	r.addf("handshakes refused", "%d rejected (non-101), %d failed before upgrade, %d dial errors", st2.Rejected-st.Rejected, st2.ConnFail-st.ConnFail, st2.DialErr-st.DialErr)
	r.addf("established connections", "%d of %d untouched closed unexpectedly; probe publish reached %d of %d", unexpected, o.N-k, probe, o.N)
	r.addf("server CPU", "%.3f s during the storm", c1.CPU-c0.CPU)
	r.Figures["recover_ms"] = float64(rec.Microseconds()) / 1e3
	r.Figures["rejected"] = float64(st2.Rejected - st.Rejected + st2.ConnFail - st.ConnFail)
	r.Figures["unaffected_closed"] = float64(unexpected)
	r.Figures["probe_reached"] = float64(probe)
	r.addf("kernel listen queue", "%s", lt)
	for k, v := range lf {
		r.Figures[k] = v
	}
	return r, nil
}
