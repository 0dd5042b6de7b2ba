package server

import (
	"log/slog"
	"sync/atomic"
	"time"
)

// rateLog turns a repeated event (a rejection, a slow consumer) into at most
// one summary line per interval: "N events since the last line". The first
// event after a quiet period logs at once so an operator sees it start.
type rateLog struct {
	log     *slog.Logger
	msg     string
	pending atomic.Int64
	last    atomic.Int64 // unix nanos of the last line
}

const rateLogEvery = 10 * time.Second

func (r *rateLog) init(l *slog.Logger, msg string) { r.log, r.msg = l, msg }

// hit counts one event with a detail kept for the summary line. It reads the
// wall clock, which is fine: it runs per rejected or evicted connection,
// never per message.
func (r *rateLog) hit(detail string) {
	r.pending.Add(1)
	now := time.Now().UnixNano()
	last := r.last.Load()
	if now-last < int64(rateLogEvery) || !r.last.CompareAndSwap(last, now) {
		return
	}
	if n := r.pending.Swap(0); n > 0 {
		r.log.Warn(r.msg, "count", n, "last", detail, "window", rateLogEvery.String())
	}
}

// flush writes what is pending (at shutdown).
func (r *rateLog) flush() {
	if n := r.pending.Swap(0); n > 0 {
		r.log.Warn(r.msg, "count", n)
	}
}
