package loadclient

import (
	"bytes"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/bench/worker"
	"github.com/starling-ws/starling/internal/wsframe"
	"github.com/starling-ws/starling/poller"
)

// Resume subscribers (bench resume): each tracks its channel's position
// (last offset seen, epoch) from the acks and pushes it reads, counting a
// skipped offset as lost and a repeated one as duplicated. A "cut" closes
// some of them abruptly (no close frame, as a dropped network does) and
// dials as many new ones, which take over the cut positions and subscribe
// with since; each counts as recovered (ack recovered:true), or not, and
// records how long after the cut it had caught up with the offset its ack
// announced.

// position is a resume subscriber's stream, handed from a cut connection
// to the one that replaces it. Fields other than last are touched only by
// the handler calls of the connection holding it; last is also read by
// "tail".
type position struct {
	ch      string
	last    atomic.Uint64
	lastSeq atomic.Int64 // seq mode: the last data sequence seen; -1 none
	chk     []byte       // `"ch":"<ch>"`, to tell its msgs from another channel's
	epoch   string       // "" until the first ack
	cutAt   int64        // unix ns of the cut it resumes from; 0 if none
	target  uint64       // resumed and recovered: the ack's offset, caught up on reaching it
	wait    bool         // resumed, not yet caught up
}

// resumeStats are the worker's resume counters.
type resumeStats struct {
	lost, dups, resumed, recovered, notRecovered, caughtUp atomic.Int64
}

// subscribeResume sends cc's sub: with since when it takes over a cut
// position, plain otherwise.
func (cl *client) subscribeResume(cc *cconn) {
	cl.mu.Lock()
	var pos *position
	if n := len(cl.cutQ); n > 0 {
		pos, cl.cutQ = cl.cutQ[n-1], cl.cutQ[:n-1]
	} else {
		pos = &position{ch: cc.cfg.prefix + strconv.Itoa((cc.cfg.base+cc.idx)%cc.cfg.channels)}
		pos.lastSeq.Store(-1)
		pos.chk = []byte(`"ch":"` + pos.ch + `"`)
	}
	cc.stream = pos // under mu: tail reads it
	cl.mu.Unlock()
	var tmp [256]byte
	p := append(tmp[:0], `{"op":"sub","ch":"`...)
	p = append(p, pos.ch...)
	p = append(p, `","id":1`...)
	if pos.epoch != "" {
		p = append(p, `,"since":{"off":`...)
		p = strconv.AppendUint(p, pos.last.Load(), 10)
		p = append(p, `,"epoch":"`...)
		p = append(p, pos.epoch...)
		p = append(p, `"}`...)
	}
	p = append(p, '}')
	_ = cc.c.WriteCopy(wsframe.AppendClient(nil, ws.OpText, true, p))
}

var (
	keyOff       = []byte(`"off":`)
	keyEpoch     = []byte(`"epoch":"`)
	keyRecovered = []byte(`"recovered":`)
)

// track follows a resume subscriber's stream through one server message.
func (cl *client) track(cc *cconn, p []byte) {
	pos := cc.stream
	switch {
	case bytes.Contains(p, keyOpMsg):
		off, ok := fieldUint(p, keyOff)
		if !ok || !bytes.Contains(p, pos.chKey()) {
			return // another channel's (Cmd.Own)
		}
		if cc.cfg.seq {
			cl.trackSeq(pos, p, off)
			return
		}
		last := pos.last.Load()
		switch {
		case off <= last:
			cl.rs.dups.Add(1)
			return
		case off > last+1:
			cl.rs.lost.Add(int64(off - last - 1))
		}
		pos.last.Store(off)
		if pos.wait && off >= pos.target {
			cl.caughtUp(pos)
		}
	case bytes.Contains(p, keyOpAck) && (bytes.Contains(p, keyID1) || bytes.Contains(p, keyID1c)):
		off, _ := fieldUint(p, keyOff)
		resumed := pos.epoch != ""
		if i := bytes.Index(p, keyEpoch); i >= 0 {
			e := p[i+len(keyEpoch):]
			if j := bytes.IndexByte(e, '"'); j >= 0 {
				pos.epoch = string(e[:j])
			}
		}
		if !resumed {
			pos.last.Store(off)
			return
		}
		cl.rs.resumed.Add(1)
		i := bytes.Index(p, keyRecovered)
		if i < 0 || !bytes.HasPrefix(p[i+len(keyRecovered):], []byte("true")) {
			cl.rs.notRecovered.Add(1)
			if cc.cfg.seq {
				// The next message's sequence shows what was not replayed.
				pos.last.Store(off)
				return
			}
			if last := pos.last.Load(); off > last {
				cl.rs.lost.Add(int64(off - last)) // what the reload would have to cover
			}
			pos.last.Store(off)
			return
		}
		cl.rs.recovered.Add(1)
		pos.target, pos.wait = off, true
		if pos.last.Load() >= off {
			cl.caughtUp(pos)
		}
	}
}

func (pos *position) chKey() []byte { return pos.chk }

// caughtUp records the time from the cut to the replay's end.
func (cl *client) caughtUp(pos *position) {
	pos.wait = false
	cl.rs.caughtUp.Add(1)
	us := max((time.Now().UnixNano()-pos.cutAt)/1000, 1)
	cl.mu.Lock()
	_ = cl.recHist.RecordValue(min(us, worker.HistMaxMicros))
	cl.mu.Unlock()
}

// fieldUint reads the unsigned integer after key.
func fieldUint(p, key []byte) (uint64, bool) {
	i := bytes.Index(p, key)
	if i < 0 {
		return 0, false
	}
	var v uint64
	n := 0
	for _, c := range p[i+len(key):] {
		if c < '0' || c > '9' {
			break
		}
		v = v*10 + uint64(c-'0')
		n++
	}
	return v, n > 0
}

// cut closes k resume subscribers without a close frame, keeps their
// positions for the replacements, and dials k new connections.
func (cl *client) cut(eng *poller.Epoll, c *worker.Cmd) {
	cl.mu.Lock()
	k := min(c.N, len(cl.conns))
	victims := make([]*cconn, k)
	copy(victims, cl.conns[len(cl.conns)-k:])
	cl.cfg.Store(cl.subCfg) // the replacements are subscribers again
	cl.cutWait.Add(int64(k))
	cl.mu.Unlock()
	cl.cutAt.Store(time.Now().UnixNano())
	for _, v := range victims {
		v.dropped.Store(true)
		v.cutting.Store(true)
		cl.dropped.Add(1)
		v.c.Close()
	}
	// Every victim's position is queued (by OnClose, on its loop) before
	// a replacement can ask for one.
	for end := time.Now().Add(10 * time.Second); cl.cutWait.Load() > 0 && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
	cl.dialLoop(eng, c.Addr, laddrs(c), k, c.Rate)
}

// cutClosed queues a cut connection's position (from its OnClose).
func (cl *client) cutClosed(cc *cconn) {
	if pos := cc.stream; pos != nil {
		pos.cutAt = cl.cutAt.Load()
		pos.wait = false
		cl.mu.Lock()
		cl.cutQ = append(cl.cutQ, pos)
		cl.mu.Unlock()
	}
	cl.cutWait.Add(-1)
}

// tail reports, for a final offset every channel reached, how many resume
// subscribers are behind it and by how many offsets in all.
func (cl *client) tail(final uint64) (behind, missing int64) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, cc := range cl.conns {
		if cc.stream == nil {
			continue
		}
		last := cc.stream.last.Load()
		if cc.cfg.seq {
			last = uint64(max(cc.stream.lastSeq.Load(), 0))
		}
		if last < final {
			behind++
			missing += int64(final - last)
		}
	}
	return behind, missing
}
