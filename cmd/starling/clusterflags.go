package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/starling-ws/starling/cluster"
	"github.com/starling-ws/starling/server"
)

// clusterFlags are the cluster bus's flags (issue 13): -nats joins a
// cluster; without it the node runs alone and none of the others matter
// (they are still checked, so a typo fails the start either way).
type clusterFlags struct {
	url, creds, token    string
	prefix, stream       string
	storage              string
	replicas             int
	historyMemory        int64
	publishTimeout       time.Duration
	pendingMsgs          int
	pendingBytes         int64
	maxCatchup           int
	fetchTimeout         time.Duration
	reconnect, pingEvery time.Duration
}

func (f *clusterFlags) register(fs *flag.FlagSet, s *server.Config) {
	d := cluster.Defaults()
	f.storage = "file"
	f.historyMemory, f.pendingBytes = d.HistoryMemory, 64<<20
	fs.StringVar(&f.url, "nats", "", "join a cluster through NATS JetStream, e.g. nats://127.0.0.1:4222 (comma-separated for several servers); \"\": run alone")
	fs.StringVar(&f.creds, "nats-creds", "", "NATS credentials file (.creds: user JWT and NKey seed)")
	fs.StringVar(&f.token, "nats-token", "", "NATS token (visible in the process list: prefer -nats-creds)")
	fs.StringVar(&f.prefix, "nats-prefix", d.Prefix, "subject prefix: <prefix>.ch.> is stored, <prefix>.live.> is the live feed")
	fs.StringVar(&f.stream, "nats-stream", d.Stream, "JetStream stream name (the cluster's history; every node of a cluster must name the same)")
	fs.StringVar(&f.storage, "nats-storage", f.storage, "stream storage: file (survives NATS restarts, same epoch) or memory (a NATS restart loses it: new epoch, clients reload)")
	fs.IntVar(&f.replicas, "nats-replicas", d.Replicas, "stream replicas (a NATS cluster's; 1 for one NATS server)")
	fs.Var(bytesValue{&f.historyMemory}, "nats-history-memory", "bytes the stream keeps, all channels together, in the NATS server (its MaxBytes; oldest first); per channel -history-size and -history-ttl apply")
	fs.DurationVar(&f.publishTimeout, "nats-publish-timeout", d.PublishTimeout, "wait for the stream's ack of a publish; beyond, err 503")
	fs.IntVar(&s.BusMaxInflight, "nats-max-inflight", s.BusMaxInflight, "publishes taken from clients and not yet acked by the bus; beyond, err 503 (memory: N x (-max-message + 200 B))")
	fs.IntVar(&f.pendingMsgs, "nats-pending-msgs", 1<<20, "live-feed messages buffered before this node delivers them; beyond, NATS drops and the node fetches them again")
	fs.Var(bytesValue{&f.pendingBytes}, "nats-pending-bytes", "live-feed bytes buffered before this node delivers them (memory: this, at most)")
	fs.IntVar(&f.maxCatchup, "nats-max-catchup", d.MaxCatchup, "publications one catch-up (after a gap, reconnect or slow-consumer drop) fetches; the rest are skipped and counted lost")
	fs.DurationVar(&f.fetchTimeout, "nats-fetch-timeout", d.FetchTimeout, "bound on one request to the stream, and on a resume's wait for this node to catch up")
	fs.IntVar(&s.BusFetches, "nats-max-fetches", s.BusFetches, "resumes fetching from the stream at once (memory: N x (-max-replay + 1) x -max-message at worst)")
	fs.IntVar(&s.BusFetchQueue, "nats-fetch-queue", s.BusFetchQueue, "resumes waiting for a fetch; beyond, answered from this node's history alone (memory: N x ~200 B)")
	fs.DurationVar(&f.reconnect, "nats-reconnect-wait", d.ReconnectWait, "pause between reconnects to NATS (plus jitter)")
	fs.DurationVar(&f.pingEvery, "nats-ping-interval", d.PingInterval, "NATS connection liveness check (two missed pongs: reconnect)")
}

// load checks the flags; every error names its flag.
func (f *clusterFlags) load(c *serveConfig) error {
	s := &c.server
	s.BusFetchTimeout = f.fetchTimeout
	for _, d := range []struct {
		name string
		v    time.Duration
		lo   time.Duration
	}{
		{"-nats-publish-timeout", f.publishTimeout, 10 * time.Millisecond},
		{"-nats-fetch-timeout", f.fetchTimeout, 100 * time.Millisecond},
		{"-nats-reconnect-wait", f.reconnect, 10 * time.Millisecond},
		{"-nats-ping-interval", f.pingEvery, time.Second},
	} {
		if d.v < d.lo || d.v > time.Minute {
			return fmt.Errorf("%s must be in [%v, 1m], got %v", d.name, d.lo, d.v)
		}
	}
	if _, err := cluster.ParseStorage(f.storage); err != nil {
		return fmt.Errorf("-nats-storage must be file or memory, got %q", f.storage)
	}
	switch {
	case f.prefix == "":
		return fmt.Errorf("-nats-prefix must not be empty")
	case f.stream == "":
		return fmt.Errorf("-nats-stream must not be empty")
	case f.replicas < 1 || f.replicas > 5:
		return fmt.Errorf("-nats-replicas must be in [1, 5], got %d", f.replicas)
	case f.pendingMsgs < 1 || f.pendingMsgs > 1<<26:
		return fmt.Errorf("-nats-pending-msgs must be in [1, %d], got %d", 1<<26, f.pendingMsgs)
	case f.pendingBytes < 1<<20 || f.pendingBytes > 1<<34:
		return fmt.Errorf("-nats-pending-bytes must be in [1MiB, 16GiB], got %d", f.pendingBytes)
	case f.maxCatchup < 1 || f.maxCatchup > 1<<26:
		return fmt.Errorf("-nats-max-catchup must be in [1, %d], got %d", 1<<26, f.maxCatchup)
	}
	// The subject and stream rules are the bus's; its error names the field.
	probe := f.config("nats://probe:4222", "")
	if err := probe.Validate(); err != nil {
		switch {
		case strings.Contains(err.Error(), "Prefix"):
			return fmt.Errorf("-nats-prefix: %v", err)
		case strings.Contains(err.Error(), "Stream"):
			return fmt.Errorf("-nats-stream: %v", err)
		case strings.Contains(err.Error(), "Replicas"):
			return fmt.Errorf("-nats-replicas: %v", err)
		case strings.Contains(err.Error(), "HistoryMemory"):
			return fmt.Errorf("-nats-history-memory: %v", err)
		}
		return fmt.Errorf("-nats: %v", err)
	}
	if f.creds != "" {
		if _, err := os.Stat(f.creds); err != nil {
			return fmt.Errorf("-nats-creds: %w", err)
		}
	}
	if f.url == "" {
		switch {
		case f.creds != "":
			return fmt.Errorf("-nats-creds without -nats")
		case f.token != "":
			return fmt.Errorf("-nats-token without -nats")
		}
		return nil
	}
	if f.creds != "" && f.token != "" {
		return fmt.Errorf("-nats-token and -nats-creds together: give one")
	}
	if !strings.Contains(f.url, "://") {
		return fmt.Errorf("-nats must be a NATS URL such as nats://127.0.0.1:4222, got %q", f.url)
	}
	if s.HistorySize == 0 {
		return fmt.Errorf("-nats needs -history-size > 0: the stream keeps -history-size publications per channel, and resumes across nodes go through each node's history")
	}
	return nil
}

// config is the bus's configuration (name: this node on the NATS
// connection, for monitoring).
func (f *clusterFlags) config(url, name string) cluster.Config {
	st, _ := cluster.ParseStorage(f.storage)
	return cluster.Config{
		URL: url, Creds: f.creds, Token: f.token, Name: name,
		Prefix: f.prefix, Stream: f.stream, Storage: st, Replicas: f.replicas,
		HistoryMemory:  f.historyMemory,
		PublishTimeout: f.publishTimeout,
		PendingMsgs:    f.pendingMsgs, PendingBytes: int(f.pendingBytes),
		MaxCatchup:    f.maxCatchup,
		FetchTimeout:  f.fetchTimeout,
		ReconnectWait: f.reconnect, PingInterval: f.pingEvery,
	}
}
