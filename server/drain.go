package server

import (
	"context"
	"time"

	"github.com/starling-ws/starling/frame"
)

// Drain stops accepting, then sends 1001 (going away) to every connection,
// spread over the first half of ctx's time so that clients' reconnects
// (against another node, or this one restarted) arrive spread out rather
// than as one storm. It returns when every connection is gone or ctx ends;
// the caller then calls Close, which drops whatever is left.
func (s *Server) Drain(ctx context.Context) error {
	start := time.Now()
	s.draining.Store(true)
	if err := s.eng.StopAccepting(); err != nil {
		s.log.Warn("drain: stop accepting", "err", err)
	}
	// On a cluster node a publish is acked by the bus and reaches the
	// hub later, through Deliver: first every taken publish is answered
	// and delivered here (refusing new ones), so that the barrier below
	// covers them too.
	// Within a quarter of the drain time: with the bus down, what it acked
	// may never come back, and the 1001s still need their spread.
	if s.cl != nil {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if dl, ok := ctx.Deadline(); ok {
			pctx, cancel = context.WithDeadline(ctx, time.Now().Add(time.Until(dl)/4))
		}
		if err := s.cl.drainPubs(pctx); err != nil {
			s.log.Warn("drain: cluster publishes", "err", err)
		}
		cancel()
	}
	// Every publish acknowledged before now is written to its subscribers
	// before any of them gets its 1001 (issue 14): wait for the shards to
	// pass a barrier queued behind those publishes, within the deadline.
	if err := s.hub.FlushContext(ctx); err != nil {
		s.log.Warn("drain: fan-out queues not flushed before the deadline", "err", err)
	}
	conns := s.hub.Conns()
	s.log.Info("draining", "connections", len(conns))

	window := time.Duration(0)
	if dl, ok := ctx.Deadline(); ok {
		window = time.Until(dl) / 2
	}
	const batches = 20
	per := (len(conns) + batches - 1) / batches
	for i := 0; i < len(conns); i += max(per, 1) {
		for _, c := range conns[i:min(i+max(per, 1), len(conns))] {
			ss, _ := c.Ctx.(*session)
			switch {
			case ss == nil:
			case ss.closeFrom(stOpen, 1001, ByServer):
				c.CloseAfter(frame.CloseGoingAway)
				s.armGrace(ss)
			case ss.phase() == stHandshake:
				// Not a WebSocket yet: it gets an HTTP answer.
				s.reject(ss, &frame.Reject{Status: 503, Reason: "draining"}, nil)
			}
		}
		if window > 0 && len(conns) > per {
			select {
			case <-ctx.Done():
			case <-time.After(window / batches):
			}
		}
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for s.open.Load()+s.handshaking.Load() > 0 || s.hub.Stats().Conns > 0 {
		select {
		case <-ctx.Done():
			s.log.Warn("drain deadline reached", "left", s.hub.Stats().Conns, "took", since(start))
			return ctx.Err()
		case <-t.C:
		}
	}
	s.log.Info("drained", "took", since(start))
	return nil
}
