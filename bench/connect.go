package bench

import (
	"context"
	"time"

	"github.com/starling-ws/starling/bench/procstat"
	"github.com/starling-ws/starling/bench/worker"
)

// RunConnect ramps N connections at -rate and reports handshakes/s and failures.
func RunConnect(ctx context.Context, o *Opts) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	s, err := o.open(ctx, o.N, o.prog())
	if err != nil {
		return nil, err
	}
	defer s.close()
	r := newResult("connect", o.N)
	r.note(s.t.Note)
	x0 := procstat.ListenCounters()
	c0, _ := s.smp.Take()
	t0 := time.Now()
	st, err := s.dial(ctx, o, o.N, worker.Cmd{})
	el := time.Since(t0)
	if err != nil {
		return nil, err
	}
	c1, _ := s.smp.Take()
	lt, lf := listenTrouble(x0, procstat.ListenCounters())
	hs := float64(st.Handshakes) / el.Seconds()
	r.addf("connections", "%d requested at %.0f/s (0 = unpaced), %d workers", o.N, o.Rate, len(s.fl.Procs))
	r.addf("handshakes", "%d in %v = %.0f/s", st.Handshakes, el.Round(time.Millisecond), hs)
	r.addf("failures", "%d dial errors, %d closed before upgrade, %d rejected (non-101)", st.DialErr, st.ConnFail, st.Rejected)
	r.addf("server CPU", "%.3f s = %.1f µs per handshake", c1.CPU-c0.CPU, (c1.CPU-c0.CPU)*1e6/float64(max(st.Handshakes, 1)))
	r.Figures["handshakes_per_s"] = hs
	r.Figures["handshakes"] = float64(st.Handshakes)
	r.Figures["failures"] = float64(st.DialErr + st.ConnFail + st.Rejected)
	r.Figures["server_cpu_us_per_handshake"] = (c1.CPU - c0.CPU) * 1e6 / float64(max(st.Handshakes, 1))
	r.addf("kernel listen queue", "%s", lt)
	for k, v := range lf {
		r.Figures[k] = v
	}
	return r, nil
}
