package loadclient

import (
	"bytes"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/starling-ws/starling/bench/worker"
)

// Admission under a storm (Cmd.RetryUntil): a connection refused with 503
// dials again once its Retry-After has passed, as a well-behaved client
// does; one closed before the upgrade (a reset, a full accept queue) dials
// again after a second. Both stop at RetryUntil. The redial is a timer per
// refused connection, bounded by the dial's count; the Retry-After values
// are counted by value so the parent can show their spread.

// raBuckets: Retry-After seconds 0..62 counted exactly, larger ones in the
// last bucket (the server caps them at 60).
const raBuckets = 64

type admission struct {
	refused503 atomic.Int64
	retries    atomic.Int64
	ra         [raBuckets]atomic.Int64
}

func (a *admission) stats(st *worker.WStats) {
	st.Refused503, st.Retries = a.refused503.Load(), a.retries.Load()
	for i := range a.ra {
		if v := a.ra[i].Load(); v != 0 {
			if st.RetryAfter == nil {
				st.RetryAfter = make([]int64, raBuckets)
			}
			st.RetryAfter[i] = v
		}
	}
}

// refusedReply counts a non-101 reply whose head is in cc.buf and, for a
// 503 of a retrying dial, schedules the redial.
func (cl *client) refusedReply(cc *cconn) {
	cc.refused = true
	cl.rejected.Add(1)
	if !bytes.HasPrefix(cc.buf, []byte("HTTP/1.1 503")) {
		return
	}
	cl.adm.refused503.Add(1)
	ra := retryAfter(cc.buf)
	cl.adm.ra[min(max(ra, 0), raBuckets-1)].Add(1)
	cl.redial(cc.cfg, time.Duration(ra)*time.Second)
}

// failedBeforeUpgrade redials a retrying dial's connection that closed
// before any reply (a failed connect has no cconn: OnClose passes the
// worker's latest dial settings).
func (cl *client) failedBeforeUpgrade(cc *cconn) { cl.redial(cc.cfg, time.Second) }

func (cl *client) redial(cfg *dialCfg, after time.Duration) {
	if cfg.retryUntil == 0 || time.Now().Add(after).UnixNano() >= cfg.retryUntil || cl.eng == nil {
		return
	}
	cl.adm.retries.Add(1)
	laddr := cfg.laddrs[int(cfg.next.Add(1))%len(cfg.laddrs)]
	time.AfterFunc(after, func() {
		cl.dialled.Add(1)
		if err := cl.eng.Dial(cfg.addr, laddr); err != nil {
			cl.dialErr.Add(1)
			cl.redial(cfg, time.Second)
		}
	})
}

// retryAfter reads the Retry-After seconds of a response head; 0 if it
// has none.
func retryAfter(head []byte) int {
	for line := range bytes.SplitSeq(head, []byte("\r\n")) {
		k, v, ok := bytes.Cut(line, []byte{':'})
		if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte("Retry-After")) {
			n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			if err == nil {
				return n
			}
		}
	}
	return 0
}

// swapHist returns the latency histogram and starts a new one, leaving
// the per-publish arrays alone: the parent reads latency by phase while
// the delivery account spans the run.
func (cl *client) swapHist() worker.Event {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	ev := worker.Event{Ev: "hist", Hist: cl.hist.Export()}
	cl.hist = worker.NewHist()
	return ev
}
