package server

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/starling-ws/starling/poller"
	"github.com/starling-ws/starling/shard"
)

// Server is the WebSocket pub/sub service on one engine.
type Server struct {
	cfg   Config
	log   *slog.Logger
	clock *shard.Clock
	hub   *shard.Hub
	eng   poller.Engine
	start time.Time    // New's time (uptime in GET /api/info)
	cl    *clusterSide // the cluster bus's side (cluster.go); nil when alone

	// Timeouts in wheel ticks (seconds), precomputed.
	tPing, tPong, tHandshake, tFragment, tGrace, tAuth uint32

	open        atomic.Int64 // upgraded connections not yet closing
	handshaking atomic.Int64 // accepted, upgrade not complete
	draining    atomic.Bool
	st          stats
	slowLog     rateLog
	rejectLog   rateLog
	limitLog    rateLog // -max-conns reached: its own line, not lost among other rejects
	panicLog    rateLog // contained panics after the first (logged with its stack)
}

// New builds a server on eng and clock. The caller starts the clock,
// then calls Start; stop with Drain and Close.
func New(cfg Config, eng poller.Engine, clock *shard.Clock) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{
		cfg:        cfg,
		log:        cfg.Logger,
		clock:      clock,
		eng:        eng,
		start:      time.Now(),
		tPing:      secs(cfg.PingInterval),
		tPong:      secs(cfg.PongTimeout),
		tHandshake: secs(cfg.HandshakeTimeout),
		tFragment:  secs(cfg.FragmentTimeout),
		tGrace:     secs(cfg.CloseGrace),
		tAuth:      secs(cfg.AuthTimeout),
	}
	if cfg.Now == nil {
		s.cfg.Now = time.Now
	}
	s.slowLog.init(cfg.Logger, "slow consumers closed (1008, outbound queue over -max-outbound)")
	s.rejectLog.init(cfg.Logger, "handshakes rejected")
	s.limitLog.init(cfg.Logger, "connection limit reached (-max-conns): upgrades answered 503")
	s.panicLog.init(cfg.Logger, "panics contained (connections closed with 1011)")
	hc := cfg.hubConfig()
	hc.Clock, hc.OnTimer, hc.OnSlow, hc.OnPanic = clock, s.onTimer, s.onSlow, s.onHubPanic
	hc.OnFanout, hc.OnTickLag, hc.OnJoinWait = cfg.OnFanout, cfg.OnTickLag, cfg.OnJoinWait
	hub, err := shard.New(hc)
	if err != nil {
		return nil, fmt.Errorf("shards: %w", err)
	}
	s.hub = hub
	return s, nil
}

// Hub exposes the shard hub (metrics, tests).
func (s *Server) Hub() *shard.Hub { return s.hub }

// Engine is the engine the server runs on.
func (s *Server) Engine() poller.Engine { return s.eng }

// Start runs the shard workers and the engine.
func (s *Server) Start() error {
	s.hub.Start()
	if err := s.eng.Serve(s); err != nil {
		s.hub.Stop()
		return fmt.Errorf("engine %s: %w", s.eng.Name(), err)
	}
	s.log.Info("serving", "engine", s.eng.Name(), "addr", s.eng.Addr().String(), "path", s.cfg.Path,
		"shards", s.hub.Shards(), "max_conns", s.cfg.MaxConns)
	if s.cfg.Tokens == nil {
		s.log.Warn("running open: no -jwt-secret-file or -jwt-public-key, so every client may subscribe and publish on every channel")
	}
	return nil
}

// Draining reports whether Drain has begun (readiness turns false).
func (s *Server) Draining() bool { return s.draining.Load() }

// Open is the number of upgraded connections.
func (s *Server) Open() int64 { return s.open.Load() }

// Close stops the engine (closing what is left), the cluster side's
// goroutines and the shard workers. With a bus, close the bus first (it
// stops calling Deliver and answers the publishes it holds).
func (s *Server) Close() error {
	s.draining.Store(true)
	err := s.eng.Close()
	if s.cl != nil {
		s.cl.stop()
	}
	s.hub.Stop()
	s.slowLog.flush()
	s.rejectLog.flush()
	s.limitLog.flush()
	s.panicLog.flush()
	return err
}

// now is the coarse clock.
func (s *Server) now() uint32 { return s.clock.Now() }

// since is for log lines only.
func since(t time.Time) string { return time.Since(t).Round(time.Millisecond).String() }
