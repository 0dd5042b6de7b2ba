package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/starling-ws/starling/server"
)

// The cluster bus's metrics (issue 13), registered only on a node with a
// bus: the bus's own counters (cluster.Stats, folded at scrape time like
// every other counter here), the server's side of it (Server.ClusterStats),
// and one histogram fed by the bus's OnPublish hook.

var (
	dBusReady      = desc("starling_cluster_ready", "1 when the cluster bus can carry traffic (NATS connected, stream usable), else 0; /readyz says why not.")
	dBusEpoch      = desc("starling_cluster_epoch", "The stream's epoch (changes when the stream is created again: offsets start over).")
	dBusPublished  = desc("starling_cluster_publishes_total", "Publishes handed to the bus, by outcome: acked (stored, offset taken), failed (taken, then no ack in time, disconnected or refused by the stream: answered err 503, maybe stored), refused (not taken: bus unavailable, answered 503 at once), busy (over -nats-max-inflight, answered 503).", "outcome")
	dBusInflight   = desc("starling_cluster_publishes_inflight", "Publishes taken from clients and not yet answered by the bus (bounded by -nats-max-inflight).")
	dBusIn         = desc("starling_cluster_received_total", "Live-feed messages received from NATS (every publication of the cluster, once per node).")
	dBusInBytes    = desc("starling_cluster_received_bytes_total", "Data bytes of the live-feed messages received.")
	dBusDelivered  = desc("starling_cluster_delivered_total", "Publications handed to this node's hub, by source: live (the feed), fetched (a catch-up after a gap, a reconnect or a slow-consumer drop).", "source")
	dBusDups       = desc("starling_cluster_duplicates_total", "Live-feed messages already delivered (after a catch-up), dropped.")
	dBusBad        = desc("starling_cluster_bad_total", "Bus messages without valid headers or channel (a foreign publisher), not delivered.")
	dBusLost       = desc("starling_cluster_lost_total", "Stream sequences never delivered here: removed by the stream's limits before this node could fetch them, or beyond -nats-max-catchup. Resumes across them answer recovered:false.")
	dBusResyncs    = desc("starling_cluster_resyncs_total", "Catch-ups from the stream (a gap in the live feed, or a resync after a reconnect or slow-consumer event).")
	dBusFetches    = desc("starling_cluster_fetches_total", "Resumes that read publications from the stream because this node's history did not reach back (result=ok or failed).", "result")
	dBusFetchQ     = desc("starling_cluster_fetch_queue", "Resumes waiting for or running a fetch (bounded by -nats-fetch-queue).")
	dBusFetchFull  = desc("starling_cluster_fetch_queue_full_total", "Resumes that found the fetch queue full and were answered from this node's history alone.")
	dBusCatchUp    = desc("starling_cluster_resume_waits_total", "Resumes that waited for this node to deliver the client's offset first (result=ok, or timeout after -nats-fetch-timeout).", "result")
	dBusReconnects = desc("starling_cluster_reconnects_total", "Reconnects to NATS.")
	dBusSlow       = desc("starling_cluster_slow_consumer_total", "Slow-consumer events on the live feed (NATS dropped messages past -nats-pending-*; they are fetched again).")
	dBusEpochs     = desc("starling_cluster_epoch_changes_total", "Epoch changes seen (the stream was created again).")
	dBusPendMsgs   = desc("starling_cluster_pending_messages", "Live-feed messages received and not yet delivered to the hub (bounded by -nats-pending-msgs).")
	dBusPendBytes  = desc("starling_cluster_pending_bytes", "Bytes of those (bounded by -nats-pending-bytes).")
	dBusWaits      = desc("starling_cluster_delivery_waits_total", "Deliveries that waited for room in the fan-out queue (-max-fanout-queue); the live feed waits meanwhile.")
	dBusWaitSecs   = desc("starling_cluster_delivery_wait_seconds_total", "Time deliveries spent waiting for fan-out queue room.")
	dBusDelivErr   = desc("starling_cluster_delivery_errors_total", "Deliveries the hub refused (channel limit or stopping; the channel had no members here).")
	dBusNATSBytes  = desc("starling_cluster_nats_bytes_total", "Bytes on the NATS connection, by direction (in, out).", "direction")
)

// clusterCollector reads the bus and the server's cluster counters.
type clusterCollector struct{ srv *server.Server }

func (c clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dBusReady, dBusEpoch, dBusPublished, dBusInflight, dBusIn, dBusInBytes,
		dBusDelivered, dBusDups, dBusBad, dBusLost, dBusResyncs, dBusFetches, dBusFetchQ, dBusFetchFull, dBusCatchUp,
		dBusReconnects, dBusSlow, dBusEpochs, dBusPendMsgs, dBusPendBytes, dBusWaits, dBusWaitSecs, dBusDelivErr,
		dBusNATSBytes} {
		ch <- d
	}
}

func (c clusterCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.srv.Bus()
	if b == nil {
		return
	}
	bs := b.Stats()
	ss := c.srv.ClusterStats()
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	gauge(dBusReady, b2f(bs.Ready))
	gauge(dBusEpoch, float64(bs.Epoch))
	counter(dBusPublished, float64(bs.Published), "acked")
	counter(dBusPublished, float64(bs.PublishFailed), "failed")
	counter(dBusPublished, float64(bs.Refused), "refused")
	counter(dBusPublished, float64(ss.PublishesBusy), "busy")
	gauge(dBusInflight, float64(ss.Inflight))
	counter(dBusIn, float64(bs.InMsgs))
	counter(dBusInBytes, float64(bs.InBytes))
	counter(dBusDelivered, float64(bs.Delivered-min(bs.Fetched, bs.Delivered)), "live")
	counter(dBusDelivered, float64(bs.Fetched), "fetched")
	counter(dBusDups, float64(bs.Duplicates))
	counter(dBusBad, float64(bs.Bad))
	counter(dBusLost, float64(bs.Lost))
	counter(dBusResyncs, float64(bs.Gaps))
	counter(dBusFetches, float64(ss.Fetches-min(ss.FetchFailed, ss.Fetches)), "ok")
	counter(dBusFetches, float64(ss.FetchFailed), "failed")
	gauge(dBusFetchQ, float64(ss.FetchesPending))
	counter(dBusFetchFull, float64(ss.FetchQueueFull))
	counter(dBusCatchUp, float64(ss.CatchUpWaits-min(ss.CatchUpMissed, ss.CatchUpWaits)), "ok")
	counter(dBusCatchUp, float64(ss.CatchUpMissed), "timeout")
	counter(dBusReconnects, float64(bs.Reconnects))
	counter(dBusSlow, float64(bs.SlowConsumer))
	counter(dBusEpochs, float64(bs.Epochs))
	gauge(dBusPendMsgs, float64(bs.PendingMsgs))
	gauge(dBusPendBytes, float64(bs.PendingBytes))
	counter(dBusWaits, float64(ss.DeliverWaits))
	counter(dBusWaitSecs, ss.DeliverWaitSeconds)
	counter(dBusDelivErr, float64(ss.DeliverErrors))
	counter(dBusNATSBytes, float64(bs.NATSIn), "in")
	counter(dBusNATSBytes, float64(bs.NATSOut), "out")
}

// newBusLatency is the publish-to-ack histogram (the bus's OnPublish).
func newBusLatency() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "starling_cluster_publish_seconds",
		Help: "Time from handing a publish to the bus until the stream acked it (its offset taken): the bus's share of a pub's latency.",
		// Loopback NATS acks in tens of microseconds; a network round
		// trip is a millisecond or so; seconds mean the bus is in trouble
		// (the publish timeout answers 503 at -nats-publish-timeout).
		Buckets: []float64{2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2.5},
	})
}

// ObserveBusPublish is cluster.Config.OnPublish: once per acked publish,
// from a NATS goroutine. Lock-free, allocation-free.
func (m *Metrics) ObserveBusPublish(d time.Duration) { m.busLat.Observe(d.Seconds()) }
