package metrics

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/starling-ws/starling/server"
)

// Options tune readiness and logging; the zero value is the documented
// default.
type Options struct {
	// StallAfter: readiness turns false when no wheel tick has been
	// processed for longer than this (0: 3s).
	StallAfter time.Duration
	// MaxTickLag: readiness turns false for StallAfter after any shard ran
	// a wheel tick later than this behind its schedule (0: 2s).
	MaxTickLag time.Duration
	// SummaryEvery is the period of the info-level summary line (0: 60s,
	// negative: off).
	SummaryEvery time.Duration
	Logger       *slog.Logger // nil: slog.Default()
}

// Metrics is one server's observability. Build it with New before
// server.New (its hooks go into server.Config and its memory baseline must
// predate any connection), then Attach the started server.
type Metrics struct {
	opt      Options
	log      *slog.Logger
	reg      *prometheus.Registry
	fanout   prometheus.Histogram
	tickLag  prometheus.Histogram
	joinWait prometheus.Histogram
	busLat   prometheus.Histogram // registered by Attach on a node with a bus
	ready    readiness
	mem      memory
	srv      atomic.Pointer[server.Server]
}

// New builds the registry (with the Go and process collectors) and the
// histograms, and takes the RSS baseline.
func New(opt Options) *Metrics {
	if opt.StallAfter <= 0 {
		opt.StallAfter = 3 * time.Second
	}
	if opt.MaxTickLag <= 0 {
		opt.MaxTickLag = 2 * time.Second
	}
	if opt.SummaryEvery == 0 {
		opt.SummaryEvery = time.Minute
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	m := &Metrics{opt: opt, log: opt.Logger, reg: prometheus.NewRegistry()}
	m.fanout = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "starling_fanout_duration_seconds",
		Help: "Time from a publish entering the hub until the last shard has written it to every subscriber.",
		// 10us .. 2.5s: a small channel is written in microseconds, a
		// 150k-subscriber one in milliseconds; seconds mean trouble.
		Buckets: []float64{1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2.5},
	})
	m.tickLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "starling_tick_lag_seconds",
		Help: "How late each shard ran its once-a-second wheel tick relative to the tick's schedule (reactor event-loop lag).",
		// The clock ticks once a second: under 1ms is idle, 100ms is a
		// busy shard queue, a second or more is a stall.
		Buckets: []float64{1e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2.5, 5},
	})
	m.joinWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "starling_join_wait_seconds",
		Help: "Per sub: how long its join waited in the shard worker's inbox before the ack was written (the server's share of a sub's latency, fan-outs running or not).",
		// A worker serves its inbox between chunks of a fan-out: well under
		// a millisecond when healthy; tens of milliseconds mean starved CPU.
		Buckets: []float64{1e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 1},
	})
	m.busLat = newBusLatency()
	m.ready.init(opt.StallAfter, opt.MaxTickLag)
	m.mem.init()
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.fanout, m.tickLag, m.joinWait,
	)
	return m
}

// ObserveFanout is server.Config.OnFanout: called once per publish, from a
// shard worker, with no lock held. Lock-free, allocation-free.
func (m *Metrics) ObserveFanout(d time.Duration, _ int) {
	m.fanout.Observe(d.Seconds())
}

// ObserveJoinWait is server.Config.OnJoinWait: once per sub, from a shard
// worker. Lock-free, allocation-free.
func (m *Metrics) ObserveJoinWait(d time.Duration) { m.joinWait.Observe(d.Seconds()) }

// ObserveTickLag is server.Config.OnTickLag: once per shard per second.
func (m *Metrics) ObserveTickLag(d time.Duration) {
	m.tickLag.Observe(d.Seconds())
	m.ready.tick(d)
}

// Attach registers the collector over a started server and arms the
// readiness stall check (the first tick is due within a second).
func (m *Metrics) Attach(srv *server.Server) {
	if !m.srv.CompareAndSwap(nil, srv) {
		panic("metrics: Attach called twice")
	}
	m.ready.draining = srv.Draining
	m.reg.MustRegister(newCollector(srv, &m.mem, &m.ready))
	if srv.Bus() != nil {
		m.ready.bus = srv.BusReady
		m.reg.MustRegister(clusterCollector{srv}, m.busLat)
	}
	m.ready.attach()
}

// BeginShutdown turns readiness false for good. serve calls it first thing
// on SIGTERM, before Drain sends any 1001, so that a load balancer stops
// routing new clients here before existing ones are told to go.
func (m *Metrics) BeginShutdown() { m.ready.shutdown() }

// Registry is the registry /metrics serves (tests, extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }
