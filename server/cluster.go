package server

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/starling-ws/starling/cluster"
	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/shard"
)

// The cluster bus (issue 13). With a bus attached, a channel's offsets are
// the bus's stream sequences, the same on every node: a pub (or an API
// publish) goes to the bus, not to the hub, and its ack is written when the
// bus acks it; every publication, this node's own included, comes back
// through Deliver (the bus's Sink) and goes to the hub with PublishAt,
// with the same payload type as a local publish (frames built once per
// class, the same counters). Without a bus none of this runs: s.cl is nil
// and the op path pays one nil check.
//
// Who waits for what:
//   - Event loops never call the bus (its calls take the NATS connection's
//     lock, which its flusher holds across socket writes). A pub is copied
//     into a busPub and handed to one publisher goroutine over a channel
//     (cluster_pub.go); a resume that needs the bus goes to a pool of
//     fetch goroutines (cluster_resume.go). Both hand-offs are
//     non-blocking and bounded (-nats-max-inflight, -nats-fetch-queue).
//   - Acks of bus publishes are written from NATS goroutines with
//     Conn.WriteCopy, which is safe on a connection that closed meanwhile
//     (ErrClosed; poller.Conn records are never reused).
//   - Deliver runs on the bus's delivery goroutine. Before each PublishAt
//     it asks the hub whether the fan-out queues of the channel's shards
//     have room (Hub.Admit) and waits while they do not: the bus then
//     buffers (its pending limits), and what NATS drops beyond them the
//     bus fetches again from the stream once Deliver catches up. So the
//     fan-out queue stays within -max-fanout-queue and no delivery is
//     dropped: nothing a subscriber would have to learn about. What the
//     stream itself no longer holds by then is counted lost by the bus
//     (starling_cluster_lost_total), and a resume across it answers
//     recovered:false (the predecessors do not chain).

// clusterSide is a server's part of the bus: the hand-off queues, the
// goroutines that serve them and their counters.
type clusterSide struct {
	s   *Server
	bus *cluster.Bus

	pubq     chan *busPub
	inflight atomic.Int64 // busPubs taken and not yet answered

	amu      sync.Mutex // leaf: the highest acked offset, for a drain
	ackEpoch uint32
	ackOff   uint64

	fetchq   chan *fetchReq
	fmu      sync.Mutex // leaf: guards fetching (map operations only)
	fetching map[fetchKey]*fetchReq
	nfetch   atomic.Int64 // len(fetching), read without fmu

	quit   chan struct{}
	closed atomic.Bool
	wg     sync.WaitGroup
	st     clusterCounters
}

type clusterCounters struct {
	pubBusy     atomic.Uint64 // refused: -nats-max-inflight publishes waiting
	pubFailed   atomic.Uint64 // answered 503: the bus refused or failed them
	waits       atomic.Uint64 // Deliver calls that waited for fan-out queue room
	waitNanos   atomic.Uint64 // time they waited
	deliverErrs atomic.Uint64 // PublishAt refused (channel limit, stopping)
	fetches     atomic.Uint64 // resumes that fetched from the bus
	fetchFailed atomic.Uint64 // ... whose fetch failed (answered from this node's history alone)
	fetchFull   atomic.Uint64 // resumes that found the fetch queue full
	anchors     atomic.Uint64 // channels whose position a resume's fetch set (nothing newer stored)
	caughtUp    atomic.Uint64 // resumes that waited for this node to catch up first
	caughtUpNot atomic.Uint64 // ... and it did not within -nats-fetch-timeout
}

// ClusterStats are the server's bus counters (metrics).
type ClusterStats struct {
	PublishesBusy, PublishesFailed uint64
	Inflight                       int64
	DeliverWaits                   uint64
	DeliverWaitSeconds             float64
	DeliverErrors                  uint64
	Fetches, FetchFailed           uint64
	FetchQueueFull                 uint64
	Anchors                        uint64
	FetchesPending                 int64
	CatchUpWaits, CatchUpMissed    uint64
}

// JoinCluster makes this server a cluster node: connect must start the
// bus with the given Sink (this server), e.g. cluster.Connect(cfg, sink,
// log) with cfg.OnEpoch = Hub().SetEpoch. Call it once, before Start. The
// server's side exists before connect runs, because the bus may deliver
// at once (a node joining a busy cluster); the bus's publisher and fetch
// goroutines start once it is connected. A cluster needs history
// (-history-size > 0): the bus's stream is the cluster's history and
// resumes go through the hub's.
func (s *Server) JoinCluster(connect func(sink cluster.Sink) (*cluster.Bus, error)) error {
	switch {
	case s.cl != nil:
		return errors.New("server: JoinCluster: already a cluster node")
	case s.cfg.HistorySize == 0:
		return errors.New("-nats needs -history-size > 0 (resume across nodes goes through each node's history)")
	}
	c := &clusterSide{
		s:        s,
		pubq:     make(chan *busPub, s.cfg.BusMaxInflight),
		fetchq:   make(chan *fetchReq, s.cfg.BusFetchQueue),
		fetching: make(map[fetchKey]*fetchReq),
		quit:     make(chan struct{}),
	}
	s.cl = c
	b, err := connect(s)
	if err != nil || b == nil {
		s.cl = nil
		if err == nil {
			err = errors.New("server: JoinCluster: no bus")
		}
		return err
	}
	c.bus = b
	c.wg.Add(1 + s.cfg.BusFetches)
	go c.publisher()
	for range s.cfg.BusFetches {
		go c.fetcher()
	}
	return nil
}

// Bus is the attached bus, nil when the node runs alone.
func (s *Server) Bus() *cluster.Bus {
	if s.cl == nil {
		return nil
	}
	return s.cl.bus
}

// stop ends the goroutines (Server.Close, after the bus is closed): what
// is still queued is answered 503 or dropped with its closing connection.
func (c *clusterSide) stop() {
	if c.closed.Swap(true) {
		return
	}
	close(c.quit)
	c.wg.Wait()
	for {
		select {
		case p := <-c.pubq:
			p.finish(0, fmt.Errorf("%w: server stopping", cluster.ErrUnavailable))
		default:
			return
		}
	}
}

// Deliver is cluster.Sink: one publication of the cluster, in the bus's
// stream order, to the hub. data is ours to keep (the payload holds it).
func (s *Server) Deliver(ch []byte, off, prev uint64, epoch uint32, data []byte, enc frame.Enc) {
	p := &payload{data: data, enc: enc, srv: s}
	if c := s.cl; c != nil { // set before the bus could call (JoinCluster)
		c.roomFor(ch, len(data))
	}
	if _, err := s.hub.PublishAt(ch, off, prev, epoch, p); err != nil && s.cl != nil {
		// ErrTooManyChannels: the channel has no members here (it would
		// exist otherwise), so only this node's history misses it.
		s.cl.st.deliverErrs.Add(1)
	}
}

// roomFor waits while a fan-out queue that ch's publication must join is
// over its bound (see the top of this file). It gives up only when the
// server stops: a worker that never drains would stall every node's
// readiness anyway (the tick lag).
func (c *clusterSide) roomFor(ch []byte, size int) {
	if c.s.hub.Admit(ch, size) != shard.ErrBusy {
		return
	}
	start := time.Now()
	c.st.waits.Add(1)
	pause := 20 * time.Microsecond
	for c.s.hub.Admit(ch, size) == shard.ErrBusy && !c.closed.Load() {
		time.Sleep(pause)
		pause = min(2*pause, time.Millisecond)
	}
	c.st.waitNanos.Add(uint64(time.Since(start)))
}

// ClusterStats reads the bus counters; zero without a bus.
func (s *Server) ClusterStats() ClusterStats {
	c := s.cl
	if c == nil {
		return ClusterStats{}
	}
	return ClusterStats{
		PublishesBusy: c.st.pubBusy.Load(), PublishesFailed: c.st.pubFailed.Load(), Inflight: c.inflight.Load(),
		DeliverWaits: c.st.waits.Load(), DeliverWaitSeconds: float64(c.st.waitNanos.Load()) / 1e9,
		DeliverErrors: c.st.deliverErrs.Load(), Fetches: c.st.fetches.Load(), FetchFailed: c.st.fetchFailed.Load(),
		FetchQueueFull: c.st.fetchFull.Load(), Anchors: c.st.anchors.Load(), FetchesPending: c.nfetch.Load(),
		CatchUpWaits: c.st.caughtUp.Load(), CatchUpMissed: c.st.caughtUpNot.Load(),
	}
}

// BusReady is readiness's cluster part: true without a bus.
func (s *Server) BusReady() (bool, string) {
	if s.cl == nil {
		return true, ""
	}
	return s.cl.bus.Ready()
}
