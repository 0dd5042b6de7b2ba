package server

import (
	"fmt"
	"log/slog"
	"time"
)

// Config is the server's policy; cmd/ fills it from flags.
type Config struct {
	Path             string        // upgrade path, e.g. "/ws"
	MaxConns         int           // WebSocket connections; upgrades beyond get 503
	MaxMessage       int           // largest (reassembled) message payload; 1009 beyond
	MaxSubscriptions int           // channels per connection; err 429 beyond
	PingInterval     time.Duration // server ping period, spread by jitter
	PongTimeout      time.Duration // silence after a ping before the connection is closed
	HandshakeTimeout time.Duration // from accept to a complete upgrade request
	FragmentTimeout  time.Duration // from first fragment to the final one
	CloseGrace       time.Duration // wait for the peer after we sent a close frame
	Shards           int           // 0: next power of two >= GOMAXPROCS
	Logger           *slog.Logger

	// Optional observers (metrics): fan-out time per publish and how late
	// each shard's wheel tick ran. Called without locks, once per publish
	// and once per shard per second.
	OnFanout  func(d time.Duration, recipients int)
	OnTickLag func(d time.Duration)
}

// Defaults returns the documented defaults (see `starling serve -h`).
func Defaults() Config {
	return Config{
		Path:             "/ws",
		MaxConns:         150000,
		MaxMessage:       64 << 10,
		MaxSubscriptions: 1024,
		PingInterval:     25 * time.Second,
		PongTimeout:      10 * time.Second,
		HandshakeTimeout: 5 * time.Second,
		FragmentTimeout:  10 * time.Second,
		CloseGrace:       5 * time.Second,
	}
}

// Validate names the offending setting by its flag name.
func (c *Config) Validate() error {
	switch {
	case len(c.Path) == 0 || c.Path[0] != '/':
		return fmt.Errorf("-path must start with '/', got %q", c.Path)
	case c.MaxConns < 1:
		return fmt.Errorf("-max-conns must be >= 1, got %d", c.MaxConns)
	case c.MaxMessage < 125 || c.MaxMessage > 64<<20:
		return fmt.Errorf("-max-message must be in [125, 64MiB], got %d", c.MaxMessage)
	case c.MaxSubscriptions < 1 || c.MaxSubscriptions > 65535:
		return fmt.Errorf("-max-subscriptions must be in [1, 65535], got %d", c.MaxSubscriptions)
	case c.PingInterval < time.Second:
		return fmt.Errorf("-ping-interval must be >= 1s (the wheel ticks once a second), got %v", c.PingInterval)
	case c.PongTimeout < time.Second:
		return fmt.Errorf("-pong-timeout must be >= 1s, got %v", c.PongTimeout)
	case c.HandshakeTimeout < time.Second:
		return fmt.Errorf("-handshake-timeout must be >= 1s, got %v", c.HandshakeTimeout)
	case c.FragmentTimeout < time.Second:
		return fmt.Errorf("-fragment-timeout must be >= 1s, got %v", c.FragmentTimeout)
	case c.CloseGrace < time.Second:
		return fmt.Errorf("-close-grace must be >= 1s, got %v", c.CloseGrace)
	case c.Shards < 0 || c.Shards&(c.Shards-1) != 0:
		return fmt.Errorf("-shards must be 0 (auto) or a power of two, got %d", c.Shards)
	}
	return nil
}

// secs converts a duration to whole wheel ticks (seconds), at least 1.
func secs(d time.Duration) uint32 {
	s := uint32((d + time.Second - 1) / time.Second)
	if s == 0 {
		s = 1
	}
	return s
}
