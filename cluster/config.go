package cluster

import (
	"errors"
	"fmt"
	"time"
)

// Storage is where the stream keeps its messages.
type Storage uint8

const (
	Memory Storage = iota // lost when the NATS server restarts (a new epoch then)
	File                  // survives NATS restarts (the same epoch)
)

func (s Storage) String() string {
	if s == File {
		return "file"
	}
	return "memory"
}

// ParseStorage reads "memory" or "file".
func ParseStorage(s string) (Storage, error) {
	switch s {
	case "memory":
		return Memory, nil
	case "file":
		return File, nil
	}
	return 0, fmt.Errorf("storage %q: want memory or file", s)
}

// Config configures a Bus. The zero value of every field but URL means the
// default of Defaults.
type Config struct {
	URL   string // nats://host:4222, or a comma-separated list of servers
	Creds string // a NATS .creds file (nats.UserCredentials)
	Token string // a NATS token
	Name  string // this node's name on the NATS connection (monitoring)

	Prefix   string  // subject prefix: "<prefix>.ch.>" is stored, "<prefix>.live.>" is the live feed
	Stream   string  // JetStream stream name
	Storage  Storage // Memory or File
	Replicas int     // stream replicas (a NATS cluster's); 1 for one NATS server

	// The stream's limits, which are the cluster's history: publications
	// kept per channel, how long, and all channels' bytes together (the
	// oldest go first).
	HistorySize   int
	HistoryTTL    time.Duration
	HistoryMemory int64

	// PublishTimeout bounds the wait for a publish's ack: after it the
	// publish fails with ErrUnavailable. MaxInflight bounds publishes
	// waiting for their ack; one more fails at once.
	PublishTimeout time.Duration
	MaxInflight    int
	// PendingMsgs and PendingBytes bound what the live subscription holds
	// before the sink takes it; beyond them NATS drops messages (a slow
	// consumer) and the bus fetches them back from the stream.
	PendingMsgs  int
	PendingBytes int
	// MaxCatchup bounds the messages one catch-up fetches from the stream;
	// beyond it the rest are skipped (counted in Stats.Lost) and resumes
	// across them fail rather than replay a gap.
	MaxCatchup int
	// FetchTimeout bounds one request to the stream (stream info, a batch
	// of a catch-up, a Fetch).
	FetchTimeout time.Duration
	// ReconnectWait is the pause between reconnect attempts (plus jitter);
	// PingInterval how often the connection is checked (two missed pongs
	// mark it dead).
	ReconnectWait time.Duration
	PingInterval  time.Duration

	// OnEpoch, if set, is called with the stream's epoch when the bus
	// first reads it and whenever it changes (the stream was created
	// again), before any Deliver under it: the server gives it to its hub
	// so that channels created by a subscribe carry it too.
	OnEpoch func(epoch uint32)

	// OnPublish, if set, is called once per acked publish with the time
	// from Publish to its ack (the metrics' bus latency histogram).
	OnPublish func(d time.Duration)
}

// Defaults returns the defaults, matching the server's history defaults.
func Defaults() Config {
	return Config{
		Prefix:         "starling",
		Stream:         "STARLING",
		Replicas:       1,
		HistorySize:    64,
		HistoryTTL:     2 * time.Minute,
		HistoryMemory:  1 << 30,
		PublishTimeout: 2 * time.Second,
		MaxInflight:    16384,
		PendingMsgs:    1 << 20,
		PendingBytes:   256 << 20,
		MaxCatchup:     200000,
		FetchTimeout:   5 * time.Second,
		ReconnectWait:  500 * time.Millisecond,
		PingInterval:   10 * time.Second,
	}
}

func (c *Config) fill() {
	d := Defaults()
	if c.Prefix == "" {
		c.Prefix = d.Prefix
	}
	if c.Stream == "" {
		c.Stream = d.Stream
	}
	if c.Replicas == 0 {
		c.Replicas = d.Replicas
	}
	if c.HistorySize == 0 {
		c.HistorySize = d.HistorySize
	}
	if c.HistoryTTL == 0 {
		c.HistoryTTL = d.HistoryTTL
	}
	if c.HistoryMemory == 0 {
		c.HistoryMemory = d.HistoryMemory
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = d.PublishTimeout
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = d.MaxInflight
	}
	if c.PendingMsgs == 0 {
		c.PendingMsgs = d.PendingMsgs
	}
	if c.PendingBytes == 0 {
		c.PendingBytes = d.PendingBytes
	}
	if c.MaxCatchup == 0 {
		c.MaxCatchup = d.MaxCatchup
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = d.FetchTimeout
	}
	if c.ReconnectWait == 0 {
		c.ReconnectWait = d.ReconnectWait
	}
	if c.PingInterval == 0 {
		c.PingInterval = d.PingInterval
	}
}

// validate fills the defaults and names the offending field.
func (c *Config) validate() error {
	c.fill()
	switch {
	case c.URL == "":
		return errors.New("cluster: URL is required")
	case !validPrefix(c.Prefix):
		return fmt.Errorf("cluster: Prefix %q: want 1..64 bytes of dot-separated tokens of [A-Za-z0-9_-]", c.Prefix)
	case !validStreamName(c.Stream):
		return fmt.Errorf("cluster: Stream %q: want 1..64 bytes of [A-Za-z0-9_-]", c.Stream)
	case c.Storage > File:
		return fmt.Errorf("cluster: Storage %d: want Memory or File", c.Storage)
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("cluster: Replicas %d: want 1..5", c.Replicas)
	case c.HistorySize < 1:
		return fmt.Errorf("cluster: HistorySize %d: want > 0 (the stream is the cluster's history)", c.HistorySize)
	case c.HistoryTTL < time.Second:
		return fmt.Errorf("cluster: HistoryTTL %v: want >= 1s", c.HistoryTTL)
	case c.HistoryMemory < 1<<20:
		return fmt.Errorf("cluster: HistoryMemory %d: want >= 1 MiB", c.HistoryMemory)
	case c.PublishTimeout < 0 || c.FetchTimeout < 0 || c.ReconnectWait < 0 || c.PingInterval < 0:
		return errors.New("cluster: durations must be >= 0")
	case c.MaxInflight < 0 || c.PendingMsgs < 0 || c.PendingBytes < 0 || c.MaxCatchup < 0:
		return errors.New("cluster: MaxInflight, PendingMsgs, PendingBytes, MaxCatchup must be >= 0")
	}
	return nil
}

// Validate checks c as Connect will (after filling the defaults), naming
// the offending field; c itself is not changed.
func (c Config) Validate() error { return c.validate() }
