// Package metrics is Starling's observability for operators: the Prometheus
// registry and its collector, the fan-out and tick-lag histograms, readiness,
// the memory-per-connection figures, the periodic summary log line, and the
// admin HTTP listener (/metrics, /healthz, /readyz, optional /debug/pprof/).
//
// It owns no counter on a hot path. Counters live where they are incremented
// (server's striped counters, the engine's per-loop stripes, the shards'
// own counters) and are folded into constant metrics only when Prometheus
// scrapes (collector.go). The only per-event work this package does is in
// the hooks server.Config.OnFanout and OnTickLag: one lock-free
// Histogram.Observe (plus, per shard per second, one atomic store for
// readiness). Both are allocation-free (see hooks_test.go).
//
// It must never: take a lock or allocate in a hook; log per message or per
// connection; touch a socket, a session or a shard's state except through
// the read-only Stats accessors; serve anything on the WebSocket listener;
// or keep a map keyed by anything a client controls (labels are fixed sets:
// reject reasons, close codes, initiators, shard numbers, auth checks).
package metrics
