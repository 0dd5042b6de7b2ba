package loadclient

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/starling-ws/starling/bench/procstat"
	"github.com/starling-ws/starling/bench/worker"
	"github.com/starling-ws/starling/poller"
)

// Main is the hidden `starling bench worker` role: it holds client sockets
// on one epoll engine and obeys the parent's commands (bench/worker) until
// told to exit or until its stdin closes.
func Main(in io.Reader, out io.Writer) int {
	procstat.RaiseNoFile()
	eng, err := poller.NewEpoll(poller.Config{Loops: 1, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return worker.Fail(out, fmt.Errorf("worker: epoll engine: %w", err))
	}
	cl := newClient()
	cl.eng = eng
	if err := eng.Start(cl); err != nil {
		return worker.Fail(out, fmt.Errorf("worker: start engine: %w", err))
	}
	// On return the deferred Close drops every socket.
	defer eng.Close()
	return worker.Serve(in, out, worker.Event{Ev: "ready"}, func(c *worker.Cmd) worker.Event { return cl.do(eng, c) })
}

func (cl *client) do(eng *poller.Epoll, c *worker.Cmd) worker.Event {
	switch c.Op {
	case "stats":
		st := cl.stats()
		st.PID = os.Getpid()
		cl.adm.stats(st)
		return worker.Event{Ev: "stats", Stats: st}
	case "dial":
		path := c.Path
		if path == "" {
			path = "/ws"
		}
		cfg := &dialCfg{raw: c.Raw, pub: c.Pub, prefix: c.Prefix, channels: c.Channels, base: c.Base, resume: c.Resume, deflate: c.Deflate,
			seq: c.Seq, own: c.Own, req: upgradeRequest(c.Addr, path, c.Deflate), token: cl.token.Load(), retryUntil: c.RetryUntil, addr: c.Addr, laddrs: laddrs(c)}
		cl.cfg.Store(cfg)
		if !c.Pub {
			cl.mu.Lock()
			cl.subCfg = cfg
			cl.mu.Unlock()
		}
		go cl.dialLoop(eng, c.Addr, laddrs(c), c.N, c.Rate)
		return worker.Event{Ev: "ok"}
	case "pub":
		cl.pubDone.Store(false)
		go cl.publish(c)
		return worker.Event{Ev: "ok"}
	case "drop":
		cl.mu.Lock()
		k := min(c.N, len(cl.conns))
		victims := make([]*cconn, k)
		copy(victims, cl.conns[len(cl.conns)-k:])
		cl.mu.Unlock()
		for _, v := range victims {
			v.dropped.Store(true)
			cl.dropped.Add(1)
			v.c.Close()
		}
		go cl.dialLoop(eng, c.Addr, laddrs(c), k, c.Rate)
		return worker.Event{Ev: "ok"}
	case "cut":
		go cl.cut(eng, c)
		return worker.Event{Ev: "ok"}
	case "failover":
		cl.startFailover(eng, c)
		return worker.Event{Ev: "ok"}
	case "tail":
		behind, missing := cl.tail(c.Final)
		return worker.Event{Ev: "stats", Stats: &worker.WStats{Behind: behind, Missing: missing}}
	case "rechist":
		cl.mu.Lock()
		defer cl.mu.Unlock()
		return worker.Event{Ev: "hist", Hist: cl.recHist.Export()}
	case "reset":
		cl.seqBase.Store(int64(c.SeqBase))
		cl.mu.Lock()
		cl.hist = worker.NewHist()
		cl.last = make([]int64, c.Seqs)
		cl.got = make([]int32, c.Seqs)
		cl.mu.Unlock()
		return worker.Event{Ev: "ok"}
	case "token":
		cl.token.Store(c.Token)
		return worker.Event{Ev: "ok"}
	case "swaphist":
		return cl.swapHist()
	case "hist":
		cl.mu.Lock()
		ev := worker.Event{Ev: "hist", Hist: cl.hist.Export(), Last: append([]int64(nil), cl.last...), Got: append([]int32(nil), cl.got...)}
		cl.mu.Unlock()
		return ev
	case "closeall":
		cl.mu.Lock()
		all := append(append([]*cconn(nil), cl.conns...), cl.pubs...)
		cl.mu.Unlock()
		for _, v := range all {
			v.dropped.Store(true)
			v.c.Close()
		}
		return worker.Event{Ev: "ok"}
	}
	return worker.Event{Ev: "err", Err: "worker: unknown op " + strconv.Quote(c.Op)}
}

// dialLoop paces n dials at rate per second (0: as fast as Dial returns).
func (cl *client) dialLoop(eng *poller.Epoll, addr string, laddrs []string, n int, rate float64) {
	start := time.Now()
	for i := 0; i < n; i++ {
		if rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
		}
		cl.dialled.Add(1)
		if err := eng.Dial(addr, laddrs[i%len(laddrs)]); err != nil {
			cl.dialErr.Add(1)
		}
	}
}

// publish makes every publisher connection send c.Count messages, paced so
// the worker as a whole sends c.Rate per second.
func (cl *client) publish(c *worker.Cmd) {
	defer cl.pubDone.Store(true)
	cl.mu.Lock()
	pubs := append([]*cconn(nil), cl.pubs...)
	cl.mu.Unlock()
	if len(pubs) == 0 {
		return
	}
	chans := make([]string, len(pubs))
	for k := range pubs {
		chans[k] = c.Prefix + strconv.Itoa((c.Base+k)%max(c.Channels, 1))
	}
	start := time.Now()
	total := c.Count * len(pubs)
	buf := make([]byte, 0, c.Size+256)
	for i := 0; i < total; i++ {
		if c.Rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(i) / c.Rate * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
		}
		k := i % len(pubs)
		seq := int64(c.SeqBase + i/len(pubs))
		buf = appendPub(buf[:0], chans[k], seq, int64(i)+2, c.Size, time.Now().UnixNano())
		if err := pubs[k].c.WriteCopy(buf); err != nil {
			cl.pubErr.Add(1)
			continue
		}
		cl.published.Add(1)
	}
}

func laddrs(c *worker.Cmd) []string {
	if len(c.LAddrs) > 0 {
		return c.LAddrs
	}
	return []string{c.LAddr}
}
