package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/starling-ws/starling/server"
)

// collector builds constant metrics at scrape time from the three Stats
// accessors (server, engine, hub). Nothing here runs on a hot path: the
// hot paths only touch their own striped or per-shard counters, and each
// scrape folds them (a sum over stripes is not one atomic snapshot; each
// counter is individually monotonic, which is all Prometheus needs).
type collector struct {
	srv   *server.Server
	mem   *memory
	ready *readiness

	shardLabels []string // "0", "1", ... precomputed
	codeLabels  []string // server.CloseCodes as labels; 0 is "other"
}

func newCollector(srv *server.Server, mem *memory, ready *readiness) *collector {
	c := &collector{srv: srv, mem: mem, ready: ready}
	for i := range srv.Hub().Shards() {
		c.shardLabels = append(c.shardLabels, strconv.Itoa(i))
	}
	for _, code := range server.CloseCodes {
		l := "other"
		if code != 0 {
			l = strconv.Itoa(int(code))
		}
		c.codeLabels = append(c.codeLabels, l)
	}
	return c
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// The descriptors. Names follow the Prometheus conventions: a starling_
// prefix, base units (bytes, seconds), counters end in _total.
var (
	dConns          = desc("starling_connections", "Open WebSocket connections (upgraded, not yet closing).")
	dHandshaking    = desc("starling_connections_handshaking", "Accepted TCP connections whose upgrade request is not complete.")
	dShardConns     = desc("starling_shard_connections", "Connections registered in each shard (handshaking, open and closing).", "shard")
	dTCPConns       = desc("starling_tcp_connections", "TCP connections the engine holds open.")
	dTCPAccepted    = desc("starling_tcp_accepted_total", "TCP connections accepted by the engine.")
	dHSAccepted     = desc("starling_handshakes_accepted_total", "WebSocket upgrades accepted (101).")
	dHSRejected     = desc("starling_handshakes_rejected_total", "Upgrade requests rejected, by reason (an HTTP error was sent).", "reason")
	dCloses         = desc("starling_closes_total", "WebSocket connections closed, by close code and by who started the close (server, client, network: TCP ended without a close frame, 1006).", "code", "initiator")
	dMsgsIn         = desc("starling_messages_received_total", "Application messages (complete, reassembled) received from clients.")
	dMsgsOut        = desc("starling_messages_sent_total", "Application messages written to clients: kind=delivery (a publish written to one subscriber), kind=reply (ack or error).", "kind")
	dBytesIn        = desc("starling_received_bytes_total", "Bytes read from client sockets (handshakes and frames).")
	dBytesOut       = desc("starling_sent_bytes_total", "Bytes written to client sockets.")
	dPublishes      = desc("starling_publishes_total", "Publish operations accepted from clients.")
	dPubsFanned     = desc("starling_publishes_fanned_out_total", "Publishes that had at least one subscriber and were fanned out.")
	dPings          = desc("starling_pings_sent_total", "Heartbeat pings sent to idle connections.")
	dSlowClosed     = desc("starling_slow_consumers_closed_total", "Connections closed with 1008 because their outbound queue went over -max-outbound (slow consumers disconnected).")
	dOverflows      = desc("starling_outbound_overflows_total", "Writes refused because the connection's outbound queue would exceed -max-outbound; the queue is dropped (slow consumers' data dropped).")
	dWouldBlock     = desc("starling_writes_queued_total", "Writes that met a full socket buffer and were queued.")
	dQueued         = desc("starling_outbound_queue_bytes", "Bytes waiting in outbound queues now, over all connections.")
	dHeartbeat      = desc("starling_heartbeat_timeouts_total", "Connections closed (1008) because a ping went unanswered for -pong-timeout.")
	dDeadlines      = desc("starling_deadline_closes_total", "Connections closed for a missed handshake or fragment deadline.")
	dChannels       = desc("starling_channels", "Channels that exist: with subscribers, or kept -history-ttl for their history.")
	dSubs           = desc("starling_subscriptions", "Subscriptions (connection, channel pairs).")
	dMemPerConn     = desc("starling_memory_per_connection_bytes", "Process RSS growth since start divided by registered connections (0 with none); see docs/operations.md.")
	dKernelTCP      = desc("starling_kernel_tcp_memory_bytes", "Kernel TCP socket buffer memory in this network namespace (/proc/net/sockstat TCP mem * page size).")
	dRSSBaseline    = desc("starling_memory_baseline_bytes", "Process RSS when the server started, before any connection.")
	dReady          = desc("starling_ready", "1 when /readyz answers 200, else 0.")
	dDraining       = desc("starling_draining", "1 once shutdown draining has begun.")
	dPubRefused     = desc("starling_publishes_refused_total", "Publishes refused with err 429: reason=queue (a shard's fan-out queue over its share of -max-fanout-queue), reason=rate (-max-publish-rate, which auth ops share, an auth op refused counting here too; reading that connection then pauses until the next second).", "reason")
	dFanoutQueue    = desc("starling_fanout_queue_bytes", "Payload bytes of publishes queued for the shard workers now (bounded by -max-fanout-queue).")
	dResets         = desc("starling_resets_total", "Connections reset (SO_LINGER 0) because their close grace ended with bytes still unsent: kernel send buffers freed at once.")
	dPanics         = desc("starling_panics_total", "Panics contained (a bug): where=server (the connection closed with 1011), where=engine (a handler panic the event loop caught).", "where")
	dPending        = desc("starling_pending_members", "Members that joined while older publishes of their channel were still queued (transient).")
	dHistBytes      = desc("starling_history_bytes", "Bytes charged for retained publications, all channels (bounded by -history-memory).")
	dHistMsgs       = desc("starling_history_messages", "Retained publications, all channels.")
	dHistChans      = desc("starling_history_channels", "Channels with retained publications.")
	dHistDropped    = desc("starling_history_dropped_total", "Retained publications dropped: reason=memory (to stay within -history-memory), reason=ttl (older than -history-ttl).", "reason")
	dIdleEvicted    = desc("starling_channels_evicted_total", "Channels without subscribers (kept -history-ttl for resumes) ended early to make room for a new channel at -max-channels.")
	dAuthOK         = desc("starling_authentications_total", "Tokens verified, in the upgrade request or an auth op.")
	dAuthFail       = desc("starling_auth_failures_total", "Tokens refused, by the check that failed (HTTP 401 at the upgrade, close 4401 after an auth op); check=timeout: no token within -auth-timeout (4401).", "check")
	dTokenExpiry    = desc("starling_token_expiry_closes_total", "Connections closed with 4401 because their token expired (no fresh auth op before exp).")
	dClientAddrs    = desc("starling_gate_client_addresses", "Client addresses with open connections (the -max-conns-per-ip table; 0 when the cap is off).")
	dPermSets       = desc("starling_gate_permission_sets", "Distinct permission sets held by connections (interned from token claims; includes sets awaiting their cleanup after the next GC).")
	dDeflate        = desc("starling_deflate_negotiated_total", "Upgrades that negotiated permessage-deflate (-compress).")
	dCompressions   = desc("starling_compressions_total", "Compressed msg frames built: at most one per publish per encoding, shared by its compressed subscribers.")
	dCompDeclined   = desc("starling_compress_declined_total", "Compressed subscribers' msg frames left plain, per publish per encoding: data under -compress-min, or not smaller compressed.")
	dInflations     = desc("starling_inflations_total", "Compressed client messages inflated.")
	initiatorLabels = server.InitiatorNames
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dConns, dHandshaking, dShardConns, dTCPConns, dTCPAccepted,
		dHSAccepted, dHSRejected, dCloses, dMsgsIn, dMsgsOut, dBytesIn, dBytesOut, dPublishes, dPubsFanned,
		dPings, dSlowClosed, dOverflows, dWouldBlock, dQueued, dHeartbeat, dDeadlines, dChannels, dSubs,
		dMemPerConn, dKernelTCP, dRSSBaseline, dReady, dDraining, dPubRefused, dFanoutQueue, dResets, dPanics,
		dPending, dHistBytes, dHistMsgs, dHistChans, dHistDropped, dIdleEvicted,
		dAuthOK, dAuthFail, dTokenExpiry, dClientAddrs, dPermSets,
		dDeflate, dCompressions, dCompDeclined, dInflations} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ss := c.srv.Stats()
	es := c.srv.Engine().Stats()
	hs := c.srv.Hub().Stats()

	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}

	gauge(dConns, float64(ss.Open))
	gauge(dHandshaking, float64(ss.Handshaking))
	for i, n := range hs.PerShardConns {
		if i < len(c.shardLabels) {
			gauge(dShardConns, float64(n), c.shardLabels[i])
		}
	}
	gauge(dTCPConns, float64(es.Open))
	counter(dTCPAccepted, es.Accepted)
	counter(dHSAccepted, ss.Accepted)
	for _, r := range server.RejectReasons {
		counter(dHSRejected, ss.Rejected[r], r)
	}
	// Every (code, initiator) pair is exported, zeros included, so that a
	// series exists before its first increment and rate() sees it start.
	for _, who := range initiatorLabels {
		byCode := ss.Closes[who]
		for i, code := range server.CloseCodes {
			counter(dCloses, byCode[code], c.codeLabels[i], who)
		}
	}
	counter(dMsgsIn, ss.MessagesIn)
	counter(dMsgsOut, hs.Deliveries, "delivery")
	counter(dMsgsOut, ss.RepliesOut, "reply")
	counter(dBytesIn, es.BytesIn)
	counter(dBytesOut, es.BytesOut)
	counter(dPublishes, ss.Publishes)
	counter(dPubsFanned, hs.Publishes)
	counter(dPings, ss.PingsSent)
	counter(dSlowClosed, ss.SlowConsumers)
	counter(dOverflows, es.Overflows)
	counter(dWouldBlock, es.WouldBlock)
	gauge(dQueued, float64(max(es.QueuedBytes, 0)))
	counter(dHeartbeat, ss.HeartbeatTimeouts)
	counter(dDeadlines, ss.DeadlineCloses)
	counter(dAuthOK, ss.Authenticated)
	for _, check := range server.AuthChecks {
		counter(dAuthFail, ss.AuthFailures[check], check)
	}
	counter(dTokenExpiry, ss.TokenExpiries)
	gauge(dClientAddrs, float64(ss.ClientAddresses))
	gauge(dPermSets, float64(ss.PermissionSets))
	gauge(dChannels, float64(hs.Channels))
	gauge(dSubs, float64(hs.Subscriptions))
	counter(dPubRefused, ss.PublishesRefused, "queue")
	counter(dPubRefused, ss.PublishesLimited, "rate")
	counter(dDeflate, ss.DeflateNegotiated)
	counter(dCompressions, ss.Compressions)
	counter(dCompDeclined, ss.CompressDeclined)
	counter(dInflations, ss.Inflations)
	gauge(dFanoutQueue, float64(hs.QueuedBytes))
	counter(dResets, es.Resets)
	counter(dPanics, ss.Panics, "server")
	counter(dPanics, es.Panics, "engine")
	gauge(dPending, float64(hs.Pending))
	gauge(dHistBytes, float64(hs.HistoryBytes))
	gauge(dHistMsgs, float64(hs.HistoryMessages))
	gauge(dHistChans, float64(hs.HistoryChannels))
	counter(dHistDropped, hs.HistoryEvicted, "memory")
	counter(dHistDropped, hs.HistoryExpired, "ttl")
	counter(dIdleEvicted, hs.IdleEvicted)

	if v, err := c.mem.perConn(hs.Conns); err == nil {
		gauge(dMemPerConn, v)
	} else {
		ch <- prometheus.NewInvalidMetric(dMemPerConn, err)
	}
	if v, err := c.mem.kernelTCP(); err == nil {
		gauge(dKernelTCP, float64(v))
	} else {
		ch <- prometheus.NewInvalidMetric(dKernelTCP, err)
	}
	gauge(dRSSBaseline, float64(c.mem.baseline))

	ok, _ := c.ready.check()
	gauge(dReady, b2f(ok))
	gauge(dDraining, b2f(c.srv.Draining()))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
