package metrics

import (
	"time"
)

// summarize writes one info line per SummaryEvery with the state an
// operator greps for (connections, rates, trouble counts over the period).
// It reads the same folded Stats a scrape does: one fold per minute, no
// per-event work. A quiet server (nothing changed) still logs, so a gap
// in the log means the process is wedged, not idle.
func (m *Metrics) summarize(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	if m.opt.SummaryEvery < 0 {
		<-stop
		return
	}
	tk := time.NewTicker(m.opt.SummaryEvery)
	defer tk.Stop()
	var prev snapshot
	prevAt := time.Now()
	if srv := m.srv.Load(); srv != nil {
		prev = m.snap()
	}
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
		}
		if m.srv.Load() == nil {
			continue
		}
		cur, now := m.snap(), time.Now()
		secs := now.Sub(prevAt).Seconds()
		rate := func(a, b uint64) float64 {
			if secs <= 0 || b < a {
				return 0
			}
			return float64(int64(float64(b-a)/secs*10)) / 10
		}
		ok, why := m.ready.check()
		m.log.Info("summary",
			"connections", cur.open,
			"handshaking", cur.handshaking,
			"msgs_in_per_s", rate(prev.msgsIn, cur.msgsIn),
			"publishes_per_s", rate(prev.publishes, cur.publishes),
			"deliveries_per_s", rate(prev.deliveries, cur.deliveries),
			"accepted", cur.accepted-prev.accepted,
			"rejected", cur.rejected-prev.rejected,
			"slow_closed", cur.slow-prev.slow,
			"heartbeat_timeouts", cur.heartbeat-prev.heartbeat,
			"outbound_queue_bytes", cur.queued,
			"ready", ok, "not_ready_reason", why,
			"period", m.opt.SummaryEvery.String())
		prev, prevAt = cur, now
	}
}

type snapshot struct {
	open, handshaking, queued                         int64
	msgsIn, publishes, deliveries, accepted, rejected uint64
	slow, heartbeat                                   uint64
}

func (m *Metrics) snap() snapshot {
	srv := m.srv.Load()
	ss, es, hs := srv.Stats(), srv.Engine().Stats(), srv.Hub().Stats()
	s := snapshot{
		open: ss.Open, handshaking: ss.Handshaking, queued: es.QueuedBytes,
		msgsIn: ss.MessagesIn, publishes: ss.Publishes, deliveries: hs.Deliveries,
		accepted: ss.Accepted, slow: ss.SlowConsumers, heartbeat: ss.HeartbeatTimeouts,
	}
	for _, n := range ss.Rejected {
		s.rejected += n
	}
	return s
}
