package bench

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/starling-ws/starling/bench/worker"
)

// Progress prints one line a second at most on stderr for long runs.
type Progress struct {
	W     io.Writer
	start time.Time
	last  time.Time
	prev  worker.WStats
	prevT time.Time
}

// NewProgress starts the clock.
func NewProgress(w io.Writer) *Progress {
	now := time.Now()
	return &Progress{W: w, start: now, prevT: now}
}

// Show prints st (open connections, handshakes/s, messages/s) if a second passed.
func (p *Progress) Show(phase string, st worker.WStats, force bool) {
	if p == nil || p.W == nil {
		return
	}
	now := time.Now()
	if !force && now.Sub(p.last) < time.Second {
		return
	}
	dt := now.Sub(p.prevT).Seconds()
	if dt <= 0 {
		dt = 1
	}
	fmt.Fprintf(p.W, "[%6.1fs] %-10s open %7d  handshakes/s %7.0f  msgs/s %9.0f  fail %d  rejected %d  closed-unexpectedly %d\n",
		now.Sub(p.start).Seconds(), phase, st.Open, float64(st.Handshakes-p.prev.Handshakes)/dt,
		float64(st.Msgs-p.prev.Msgs)/dt, st.ConnFail+st.DialErr, st.Rejected, st.Unexpected)
	p.last, p.prev, p.prevT = now, st, now
}

// dialFleet opens n connections spread over the workers at rate/s overall
// and waits until every dial has an outcome (open, rejected or failed).
// tmpl carries what the connections do once open (Raw, channels, Pub).
func dialFleet(ctx context.Context, fl *worker.Fleet, addr, path string, n int, rate float64, tmpl worker.Cmd, prog *Progress, tick ...func(worker.WStats)) (worker.WStats, error) {
	before, err := fl.Stats(ctx)
	if err != nil {
		return before, err
	}
	if err := startDials(ctx, fl, addr, path, n, rate, tmpl); err != nil {
		return before, err
	}
	return waitOutcomes(ctx, fl, before, n, "connect", prog, tick...)
}

// startDials has the workers dial n connections (their parts of it) at
// rate/s overall and returns once they have started.
func startDials(ctx context.Context, fl *worker.Fleet, addr, path string, n int, rate float64, tmpl worker.Cmd) error {
	parts := fl.Split(n)
	k := float64(len(fl.Procs))
	base := tmpl.Base
	bases := make([]int, len(parts))
	for i, p := range parts {
		bases[i] = base
		base += p
	}
	_, err := fl.Each(ctx, func(i int, p *worker.Proc) (worker.Cmd, bool) {
		c := tmpl
		c.Op, c.Addr, c.Path, c.LAddrs, c.N, c.Rate, c.Base = "dial", addr, path, p.LAddrs, parts[i], rate/k, bases[i]
		return c, parts[i] > 0
	})
	return err
}

// waitOutcomes polls until n more dials than in before have an outcome.
func waitOutcomes(ctx context.Context, fl *worker.Fleet, before worker.WStats, n int, phase string, prog *Progress, tick ...func(worker.WStats)) (worker.WStats, error) {
	for {
		st, err := fl.Stats(ctx)
		if err != nil {
			return st, err
		}
		prog.Show(phase, st, false)
		for _, f := range tick {
			f(st)
		}
		done := (st.Handshakes - before.Handshakes) + (st.Rejected - before.Rejected) +
			(st.ConnFail - before.ConnFail) + (st.DialErr - before.DialErr)
		if done >= int64(n) {
			prog.Show(phase, st, true)
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("%s: %d of %d dials resolved before the time cap: %w", phase, done, n, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitSubacks waits until n more subscriptions than before were acked.
func waitSubacks(ctx context.Context, fl *worker.Fleet, before int64, n int, prog *Progress) (worker.WStats, error) {
	for {
		st, err := fl.Stats(ctx)
		if err != nil {
			return st, err
		}
		prog.Show("subscribe", st, false)
		if st.Subacks-before >= int64(n) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("subscribe: %d of %d acked before the time cap: %w", st.Subacks-before, n, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
