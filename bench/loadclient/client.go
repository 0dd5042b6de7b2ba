package loadclient

import (
	"bytes"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/bench/worker"
	"github.com/starling-ws/starling/internal/wsframe"
	"github.com/starling-ws/starling/poller"
)

// The client side of a worker: a poller.Handler on the epoll engine's
// dialled sockets, with no goroutine per connection. Each connection carries
// a cconn with its handshake/frame state; everything shared is either an
// atomic counter or under client.mu (the histogram, the per-publish arrays,
// the list of open connections).

// dialCfg is what a batch of dialled connections does once open.
type dialCfg struct {
	raw      bool
	pub      bool
	prefix   string
	channels int
	base     int
	resume   bool   // subscribers track their position and resume after a cut (resume.go)
	deflate  bool   // offer permessage-deflate (deflate.go)
	seq      bool   // resume subscribers count loss by the data's sequence (a cluster's offsets skip)
	own      string // also subscribe to own + index (a channel of its own), id "own"
	req      []byte // the upgrade request, built once per batch
	// token, if set: each connection adds a token of its own to req (token.go)
	token *worker.TokenSpec
	// retrying dials (admission.go): where to dial again, and until when
	retryUntil int64
	addr       string
	laddrs     []string
	next       atomic.Int64
}

type cconn struct {
	c       *poller.Conn
	cfg     *dialCfg
	idx     int  // order of opening within the worker (picks the channel)
	pos     int  // index in client.conns or client.pubs, -1 if not listed
	open    bool // handshake done; touched only from this conn's handler calls
	refused bool // a non-101 reply came; touched only from this conn's handler calls
	dropped atomic.Bool
	cutting atomic.Bool // closed by a cut: hand the stream over in OnClose
	deflate bool        // the 101 agreed to permessage-deflate
	stream  *position   // resume subscribers: the channel position
	buf     []byte      // incomplete handshake reply or frame tail
}

type client struct {
	cfg     atomic.Pointer[dialCfg]
	nextIdx atomic.Int64

	dialled, dialErr, opened, handshakes, rejected, connFail atomic.Int64
	open, unexpected, dropped, subacks, pubacks, errReplies  atomic.Int64
	published, pubErr, msgs, bytesIn, pings, closes          atomic.Int64
	deflated, compressed                                     atomic.Int64
	pubDone                                                  atomic.Bool
	zbuf                                                     []byte // inflated frames (deflate.go); the engine has one loop

	mu    sync.Mutex
	conns []*cconn // established subscriber/plain connections
	pubs  []*cconn // established publisher connections
	hist  *hdr.Histogram
	last  []int64 // per publish seq: latest delivery latency (ns)
	got   []int32 // per publish seq: deliveries

	// resume (resume.go)
	rs      resumeStats
	recHist *hdr.Histogram // cut to caught up, µs; under mu
	cutQ    []*position    // cut positions waiting for a replacement; under mu
	subCfg  *dialCfg       // the last subscriber dial; under mu
	cutWait atomic.Int64   // cut connections whose OnClose has not run yet
	cutAt   atomic.Int64   // unix ns of the last cut

	adm     admission                        // retrying dials (admission.go)
	eng     *poller.Epoll                    // for redials; set before the first command
	token   atomic.Pointer[worker.TokenSpec] // set by the token command: every later dial signs with it
	seqBase atomic.Int64                     // the sequence at index 0 of last and got
	fo      failover                         // failover.go
}

func newClient() *client { return &client{hist: worker.NewHist(), recHist: worker.NewHist()} }

func (cl *client) stats() *worker.WStats {
	return &worker.WStats{
		Dialled: cl.dialled.Load(), DialErr: cl.dialErr.Load(), Opened: cl.opened.Load(),
		Handshakes: cl.handshakes.Load(), Rejected: cl.rejected.Load(), ConnFail: cl.connFail.Load(),
		Open: cl.open.Load(), Unexpected: cl.unexpected.Load(), Dropped: cl.dropped.Load(),
		Subacks: cl.subacks.Load(), Pubacks: cl.pubacks.Load(), ErrReplies: cl.errReplies.Load(),
		Published: cl.published.Load(), PubErr: cl.pubErr.Load(), Msgs: cl.msgs.Load(),
		Bytes: cl.bytesIn.Load(), Pings: cl.pings.Load(), Closes: cl.closes.Load(), PubDone: cl.pubDone.Load(),
		Deflated: cl.deflated.Load(), Compressed: cl.compressed.Load(),
		Lost: cl.rs.lost.Load(), Dups: cl.rs.dups.Load(), Resumed: cl.rs.resumed.Load(), Recovered: cl.rs.recovered.Load(),
		NotRecovered: cl.rs.notRecovered.Load(), CaughtUp: cl.rs.caughtUp.Load(), Failovers: cl.fo.n.Load(),
	}
}

// upgradeRequest is a fixed-key RFC 6455 client handshake; the key need
// not be random for a load generator (nothing caches on it). With deflate
// it offers permessage-deflate as browsers do.
func upgradeRequest(host, path string, deflate bool) []byte {
	ext := ""
	if deflate {
		ext = "Sec-WebSocket-Extensions: " + deflateOffer + "\r\n"
	}
	return []byte("GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: c3RhcmxpbmctYmVuY2gtMQ==\r\nSec-WebSocket-Version: 13\r\n" + ext + "\r\n")
}

// OnOpen sends the upgrade request (or, raw, counts the connection as up).
func (cl *client) OnOpen(c *poller.Conn) {
	cfg := cl.cfg.Load()
	cc := &cconn{c: c, cfg: cfg, idx: int(cl.nextIdx.Add(1) - 1), pos: -1}
	c.Ctx = cc
	cl.opened.Add(1)
	if cfg.raw {
		cl.established(cc)
		return
	}
	req := cfg.req
	if cfg.token != nil {
		var err error
		if req, err = tokenRequest(req, cfg.token, cc.idx); err != nil {
			c.Close() // counted as failed before the upgrade by OnClose
			return
		}
	}
	if err := c.WriteCopy(req); err != nil {
		c.Close()
	}
}

func (cl *client) established(cc *cconn) {
	cc.open = true
	cl.handshakes.Add(1)
	cl.open.Add(1)
	cl.mu.Lock()
	if cc.cfg.pub {
		cc.pos = len(cl.pubs)
		cl.pubs = append(cl.pubs, cc)
	} else {
		cc.pos = len(cl.conns)
		cl.conns = append(cl.conns, cc)
	}
	cl.mu.Unlock()
	if cc.cfg.own != "" && !cc.cfg.pub {
		defer cl.subscribeOwn(cc)
	}
	if cc.cfg.resume && cc.cfg.channels > 0 && !cc.cfg.pub {
		cl.subscribeResume(cc)
		return
	}
	if cc.cfg.channels > 0 && !cc.cfg.pub {
		ch := cc.cfg.prefix + strconv.Itoa((cc.cfg.base+cc.idx)%cc.cfg.channels)
		var tmp [128]byte
		p := append(tmp[:0], `{"op":"sub","ch":"`...)
		p = append(p, ch...)
		p = append(p, `","id":1}`...)
		_ = cc.c.WriteCopy(wsframe.AppendClient(nil, ws.OpText, true, p))
	}
}

func (cl *client) OnClose(c *poller.Conn, err error) {
	cc, _ := c.Ctx.(*cconn)
	cl.closes.Add(1)
	if cc == nil { // a connect that failed (no OnOpen)
		cl.connFail.Add(1)
		if cfg := cl.cfg.Load(); cfg != nil {
			cl.redial(cfg, time.Second)
		}
		return
	}
	if !cc.open {
		if !cc.refused { // a refusal was counted when it came
			cl.connFail.Add(1)
			cl.failedBeforeUpgrade(cc)
		}
		return
	}
	cl.open.Add(-1)
	if !cc.dropped.Load() {
		cl.unexpected.Add(1)
	}
	if cc.cutting.Load() {
		cl.cutClosed(cc)
	} else if !cc.dropped.Load() && cc.stream != nil {
		cl.failedOver(cc)
	}
	cl.mu.Lock()
	list := &cl.conns
	if cc.cfg.pub {
		list = &cl.pubs
	}
	if cc.pos >= 0 && cc.pos < len(*list) && (*list)[cc.pos] == cc {
		l := *list
		last := l[len(l)-1]
		l[cc.pos] = last
		last.pos = cc.pos
		*list = l[:len(l)-1]
	}
	cc.pos = -1
	cl.mu.Unlock()
	cc.buf = nil
}

var crlf2 = []byte("\r\n\r\n")

func (cl *client) OnData(c *poller.Conn, b []byte) {
	cc, _ := c.Ctx.(*cconn)
	if cc == nil {
		return
	}
	if cc.cfg.raw {
		cl.bytesIn.Add(int64(len(b)))
		return
	}
	if !cc.open {
		cc.buf = append(cc.buf, b...)
		i := bytes.Index(cc.buf, crlf2)
		if i < 0 {
			if len(cc.buf) > 8<<10 {
				cc.refused = true
				cl.rejected.Add(1)
				c.Close()
			}
			return
		}
		if !bytes.HasPrefix(cc.buf, []byte("HTTP/1.1 101")) {
			cl.refusedReply(cc)
			c.Close()
			return
		}
		if cc.cfg.deflate && agreedDeflate(cc.buf[:i]) {
			cc.deflate = true
			cl.deflated.Add(1)
		}
		rest := cc.buf[i+4:]
		cc.buf = nil
		cl.established(cc)
		if len(rest) == 0 {
			return
		}
		b = rest
	}
	cl.bytesIn.Add(int64(len(b)))
	if len(cc.buf) > 0 {
		cc.buf = append(cc.buf, b...)
		b = cc.buf
	}
	n := cl.frames(cc, b)
	if n == len(b) {
		cc.buf = cc.buf[:0]
		if cap(cc.buf) > 4<<10 {
			cc.buf = nil
		}
		return
	}
	if len(cc.buf) > 0 {
		cc.buf = cc.buf[:copy(cc.buf, b[n:])]
	} else {
		cc.buf = append(cc.buf, b[n:]...)
	}
}

// frames handles every complete server frame in b and returns the bytes used.
func (cl *client) frames(cc *cconn, b []byte) int {
	used := 0
	for {
		p := b[used:]
		h, ok := wsframe.ParseHeader(p)
		if !ok {
			return used
		}
		if h.Len > 1<<26 {
			cc.c.Close()
			return len(b)
		}
		if uint64(len(p)-h.Size) < h.Len {
			return used
		}
		payload := p[h.Size : h.Size+int(h.Len)]
		if h.Masked { // servers must not mask; tolerate it anyway
			ws.Cipher(payload, h.Mask, 0)
		}
		used += h.Size + int(h.Len)
		if h.Rsv&4 != 0 && cc.deflate {
			var ok bool
			if payload, ok = cl.inflate(payload, h.Op == ws.OpText); !ok {
				cc.c.Close()
				return len(b)
			}
		}
		cl.frame(cc, h.Op, payload)
	}
}
