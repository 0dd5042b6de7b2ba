package loadclient

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/bench/worker"
	"github.com/starling-ws/starling/internal/wsframe"
	"github.com/starling-ws/starling/poller"
)

// Cluster runs (bench cluster): a node process is drained, its clients are
// closed with 1001 and move to the others. A resume subscriber the server
// closes (not one we dropped or cut) hands its position over as a cut one
// does, and a replacement is dialled to the next failover address, which
// subscribes with since. Loss is counted by the sequence the publisher
// writes into the data ("<seq>:<ns>:..."), because a cluster's offsets are
// the bus's stream sequence: increasing, not contiguous.

type failover struct {
	mu     sync.Mutex
	addrs  []string
	left   []int // connections still to send to addrs[i]
	laddrs []string
	next   int
	redial chan struct{} // one token per replacement to dial
	n      atomic.Int64  // positions handed over
}

// startFailover arms the plan and the goroutine that dials replacements.
func (cl *client) startFailover(eng *poller.Epoll, c *worker.Cmd) {
	f := &cl.fo
	total := 0
	for _, n := range c.FailoverN {
		total += n
	}
	f.mu.Lock()
	f.addrs, f.left, f.laddrs = c.Failover, append([]int(nil), c.FailoverN...), laddrs(c)
	if f.redial == nil {
		f.redial = make(chan struct{}, max(total, 1))
		go cl.redialLoop(eng)
	}
	f.mu.Unlock()
}

// failedOver takes a resume subscriber the server closed (OnClose): its
// position waits for a replacement, which is asked for.
func (cl *client) failedOver(cc *cconn) {
	f := &cl.fo
	f.mu.Lock()
	armed := f.redial != nil
	f.mu.Unlock()
	if !armed {
		return
	}
	pos := cc.stream
	pos.cutAt = time.Now().UnixNano()
	pos.wait = false
	cl.mu.Lock()
	cl.cutQ = append(cl.cutQ, pos)
	cl.mu.Unlock()
	f.n.Add(1)
	select {
	case f.redial <- struct{}{}:
	default: // more than the plan: the position stays queued
	}
}

// redialLoop dials one replacement per token, to the plan's addresses in
// turn (never from an engine callback: Dial may wait for a free port).
func (cl *client) redialLoop(eng *poller.Epoll) {
	f := &cl.fo
	for range f.redial {
		f.mu.Lock()
		addr := ""
		for range f.addrs {
			i := f.next % len(f.addrs)
			f.next++
			if f.left[i] > 0 {
				f.left[i]--
				addr = f.addrs[i]
				break
			}
		}
		la := f.laddrs[f.next%len(f.laddrs)]
		f.mu.Unlock()
		if addr == "" {
			continue
		}
		cl.mu.Lock()
		cfg := cl.subCfg
		cl.mu.Unlock()
		cl.cfg.Store(cfg) // the replacement is a subscriber
		cl.dialled.Add(1)
		if err := eng.Dial(addr, la); err != nil {
			cl.dialErr.Add(1)
		}
	}
}

// subscribeOwn sends the sub of cc's channel of its own (id "own").
func (cl *client) subscribeOwn(cc *cconn) {
	var tmp [160]byte
	p := append(tmp[:0], `{"op":"sub","ch":"`...)
	p = append(p, cc.cfg.own...)
	p = strconv.AppendInt(p, int64(cc.idx), 10)
	p = append(p, `","id":"own"}`...)
	_ = cc.c.WriteCopy(wsframe.AppendClient(nil, ws.OpText, true, p))
}

// trackSeq follows a resume subscriber by the data's sequence: a jump is
// lost publications, a repeat a duplicate; the offset is kept for since.
func (cl *client) trackSeq(pos *position, p []byte, off uint64) {
	seq, _, ok := dataSeq(p)
	if !ok {
		return
	}
	last := pos.lastSeq.Load()
	switch {
	case seq <= last:
		cl.rs.dups.Add(1)
		return
	case last >= 0 && seq > last+1:
		cl.rs.lost.Add(seq - last - 1)
	}
	pos.lastSeq.Store(seq)
	if off > pos.last.Load() {
		pos.last.Store(off)
	}
	if pos.wait && off >= pos.target {
		cl.caughtUp(pos)
	}
}
