package server

import (
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/starling-ws/starling/gate"
	"github.com/starling-ws/starling/shard"
)

// Config is the server's policy; cmd/ fills it from flags. Every bound
// says what it bounds (docs/operations.md has the formulas).
type Config struct {
	Path             string        // upgrade path, e.g. "/ws"
	MaxConns         int           // WebSocket connections; upgrades beyond get 503
	MaxHandshakes    int           // connections accepted and not yet upgraded; beyond, 503 at once
	MaxMessage       int           // largest (reassembled or converted) message payload; 1009 / err 413 beyond
	MaxSubscriptions int           // channels per connection; err 429 beyond
	MaxChannels      int           // channels that may exist at once; err 429 beyond
	FanoutQueue      int64         // payload bytes queued for the shard workers, all shards together; err 429 beyond
	PublishRate      int           // publishes per second per connection (a token bucket of one second); 0: no limit
	PingInterval     time.Duration // server ping period, spread by jitter
	PongTimeout      time.Duration // silence after a ping before the connection is closed
	HandshakeTimeout time.Duration // from accept to a complete upgrade request
	FragmentTimeout  time.Duration // from the first byte of an incomplete frame or message to its end
	CloseGrace       time.Duration // wait for the peer after we sent a close frame
	Shards           int           // 0: next power of two >= GOMAXPROCS

	// Compression (permessage-deflate, RFC 7692, with no context kept
	// either way): negotiated with clients that offer it when Compress is
	// on. A publish's data part is compressed once per encoding in use,
	// when it is at least CompressMin bytes and comes out smaller; its
	// compressed subscribers share that frame (compress.go).
	Compress    bool
	CompressMin int

	// History (resume): the last HistorySize publications per channel, kept
	// HistoryTTL, all channels within HistoryMemory; a sub may replay at
	// most MaxReplay. HistorySize 0 turns history off.
	HistorySize   int
	HistoryTTL    time.Duration
	HistoryMemory int64
	MaxReplay     int

	// The gate (issue 10), each part off when nil. Tokens: a token is
	// required (header, query or auth op), and its claims decide what the
	// connection may subscribe to and publish on; nil runs open (every
	// channel both ways). AuthTimeout bounds the time from the upgrade to
	// a successful auth op when the request carried no token (4401
	// beyond). Origins: browser Origins allowed (403 otherwise). Proxies:
	// peers trusted to name the client (PROXY protocol, X-Forwarded-For).
	// PerIP: open connections per client address (429 beyond).
	// AcceptRate: handshakes per second (503 with Retry-After beyond).
	Tokens      *gate.Verifier
	AuthTimeout time.Duration
	Origins     *gate.Origins
	Proxies     *gate.Proxies
	PerIP       *gate.PerIP
	AcceptRate  *gate.AcceptRate
	// Now is the wall clock (nil: time.Now), read once per accepted
	// connection (the accept bucket) and once per verified token (its exp
	// becomes a coarse-clock tick). Tests pass the Verifier's clock.
	Now func() time.Time

	// The cluster bus's bounds (issue 13, cluster.go), used once a bus is
	// attached (JoinCluster): publishes taken from clients and not yet
	// answered by the bus (err 503 beyond); resume fetches from the bus at
	// once, and resumes waiting for one (beyond, a sub is answered from
	// this node's own history alone); how long a resume may wait for this
	// node to catch up with the stream, and for its fetch.
	BusMaxInflight  int
	BusFetches      int
	BusFetchQueue   int
	BusFetchTimeout time.Duration

	Logger *slog.Logger

	// Optional observers (metrics): fan-out time per publish and how late
	// each shard's wheel tick ran. Called without locks, once per publish
	// and once per shard per second.
	OnFanout   func(d time.Duration, recipients int)
	OnTickLag  func(d time.Duration)
	OnJoinWait func(d time.Duration) // a sub's wait in its shard's inbox, until its ack is written
}

// Defaults returns the documented defaults (see `starling serve -h`; the
// reasons are in docs/operations.md).
func Defaults() Config {
	return Config{
		Path:             "/ws",
		MaxConns:         150000,
		MaxHandshakes:    10000,
		MaxMessage:       64 << 10,
		MaxSubscriptions: 1024,
		MaxChannels:      1 << 20,
		FanoutQueue:      256 << 20,
		PublishRate:      1000,
		PingInterval:     25 * time.Second,
		PongTimeout:      10 * time.Second,
		HandshakeTimeout: 5 * time.Second,
		FragmentTimeout:  10 * time.Second,
		CloseGrace:       5 * time.Second,
		AuthTimeout:      5 * time.Second,
		HistorySize:      64,
		HistoryTTL:       2 * time.Minute,
		HistoryMemory:    128 << 20,
		MaxReplay:        64,
		Compress:         true,
		CompressMin:      DefaultCompressMin,
		BusMaxInflight:   4096,
		BusFetches:       16,
		BusFetchQueue:    4096,
		BusFetchTimeout:  5 * time.Second,
	}
}

// maxDuration bounds every duration setting: deadlines are kept as uint32
// seconds on the coarse clock, and nothing here needs more than a day.
const maxDuration = 24 * time.Hour

// Validate names the offending setting by its flag name.
func (c *Config) Validate() error {
	durs := []struct {
		name string
		d    time.Duration
	}{
		{"-ping-interval", c.PingInterval}, {"-pong-timeout", c.PongTimeout},
		{"-handshake-timeout", c.HandshakeTimeout}, {"-fragment-timeout", c.FragmentTimeout},
		{"-close-grace", c.CloseGrace}, {"-auth-timeout", c.AuthTimeout},
	}
	for _, d := range durs {
		if d.d < time.Second || d.d > maxDuration {
			return fmt.Errorf("%s must be in [1s, %v] (the wheel ticks once a second), got %v", d.name, maxDuration, d.d)
		}
	}
	switch {
	case len(c.Path) == 0 || c.Path[0] != '/':
		return fmt.Errorf("-path must start with '/', got %q", c.Path)
	case c.MaxConns < 1 || c.MaxConns > 1<<24:
		return fmt.Errorf("-max-conns must be in [1, %d], got %d", 1<<24, c.MaxConns)
	case c.MaxHandshakes < 1 || c.MaxHandshakes > 1<<24:
		return fmt.Errorf("-max-handshakes must be in [1, %d], got %d", 1<<24, c.MaxHandshakes)
	case c.MaxMessage < 125 || c.MaxMessage > 64<<20:
		return fmt.Errorf("-max-message must be in [125, 64MiB], got %d", c.MaxMessage)
	case c.MaxSubscriptions < 1 || c.MaxSubscriptions > shard.MaxSubscriptions-1:
		return fmt.Errorf("-max-subscriptions must be in [1, %d], got %d", shard.MaxSubscriptions-1, c.MaxSubscriptions)
	case c.MaxChannels < 1:
		return fmt.Errorf("-max-channels must be >= 1, got %d", c.MaxChannels)
	case c.FanoutQueue < int64(c.MaxMessage):
		return fmt.Errorf("-max-fanout-queue must hold at least one -max-message (%d), got %d", c.MaxMessage, c.FanoutQueue)
	case c.PublishRate < 0 || c.PublishRate > 1<<20:
		return fmt.Errorf("-max-publish-rate must be in [0, %d] (0: no limit), got %d", 1<<20, c.PublishRate)
	case c.Shards < 0 || c.Shards > 256 || c.Shards&(c.Shards-1) != 0:
		return fmt.Errorf("-shards must be 0 (auto) or a power of two up to 256, got %d", c.Shards)
	case c.HistorySize < 0 || c.HistorySize > 1<<20:
		return fmt.Errorf("-history-size must be in [0, %d] (0: no history), got %d", 1<<20, c.HistorySize)
	case c.MaxReplay < 0 || c.MaxReplay > 1<<20:
		return fmt.Errorf("-max-replay must be in [0, %d], got %d", 1<<20, c.MaxReplay)
	case c.CompressMin < 0 || c.CompressMin > c.MaxMessage:
		return fmt.Errorf("-compress-min must be in [0, -max-message (%d)], got %d", c.MaxMessage, c.CompressMin)
	case c.BusMaxInflight < 1 || c.BusMaxInflight > 1<<20:
		return fmt.Errorf("-nats-max-inflight must be in [1, %d], got %d", 1<<20, c.BusMaxInflight)
	case c.BusFetches < 1 || c.BusFetches > 1024:
		return fmt.Errorf("-nats-max-fetches must be in [1, 1024], got %d", c.BusFetches)
	case c.BusFetchQueue < 0 || c.BusFetchQueue > 1<<20:
		return fmt.Errorf("-nats-fetch-queue must be in [0, %d], got %d", 1<<20, c.BusFetchQueue)
	case c.BusFetchTimeout < 100*time.Millisecond || c.BusFetchTimeout > time.Minute:
		return fmt.Errorf("-nats-fetch-timeout must be in [100ms, 1m], got %v", c.BusFetchTimeout)
	}
	if c.HistorySize > 0 {
		switch {
		case c.HistoryTTL < time.Second || c.HistoryTTL > maxDuration:
			return fmt.Errorf("-history-ttl must be in [1s, %v] with -history-size > 0, got %v", maxDuration, c.HistoryTTL)
		case c.HistoryMemory < 1<<20:
			return fmt.Errorf("-history-memory must be >= 1MiB with -history-size > 0, got %d", c.HistoryMemory)
		}
	}
	return nil
}

// shards is the shard count the hub will have.
func (c *Config) shards() int {
	if c.Shards > 0 {
		return c.Shards
	}
	n := 1
	for n < runtime.GOMAXPROCS(0) && n < 256 {
		n <<= 1
	}
	return n
}

// hubConfig is the shard hub's share of the policy.
func (c *Config) hubConfig() shard.Config {
	n := c.shards()
	hc := shard.Config{
		Shards:      n,
		MaxChannels: c.MaxChannels,
		// The bound is for all shards together; each shard takes its share,
		// at least one message.
		QueueBytes: max(c.FanoutQueue/int64(n), int64(c.MaxMessage)),
	}
	if c.HistorySize > 0 {
		hc.History = shard.HistoryConfig{
			Size:      c.HistorySize,
			TTL:       secs(c.HistoryTTL),
			Memory:    c.HistoryMemory,
			MaxReplay: c.MaxReplay,
		}
	}
	return hc
}

// secs converts a duration to whole wheel ticks (seconds), at least 1.
func secs(d time.Duration) uint32 {
	s := uint32((d + time.Second - 1) / time.Second)
	if s == 0 {
		s = 1
	}
	return s
}
