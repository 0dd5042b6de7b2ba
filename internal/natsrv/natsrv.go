// Package natsrv runs an embedded nats-server with JetStream in this
// process (github.com/nats-io/nats-server/v2/server) on a loopback port:
// what the cluster tests and `starling bench cluster` use instead of an
// external service. It can be shut down and started again on the same
// port and store, as a NATS restart.
//
// It is internal: a test and bench fixture, never part of a node (a node
// connects to NATS as a client, package cluster).
package natsrv

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options for Start; the zero value is a JetStream server on a free
// 127.0.0.1 port with its store in Dir.
type Options struct {
	Dir  string // JetStream store directory (required)
	Port int    // 0: a free port, kept across restarts
	Log  bool   // the server's own log on stderr
	// MaxPayload is the server's max_payload (0: the NATS default, 1 MiB).
	MaxPayload int32
	// MaxPending is the per-client slow-consumer limit in bytes (0: the
	// NATS default, 64 MiB).
	MaxPending int64
}

// Server is one embedded nats-server.
type Server struct {
	opts Options
	mu   sync.Mutex
	s    *server.Server
}

// Start runs a server and waits until it accepts connections.
func Start(o Options) (*Server, error) {
	if o.Dir == "" {
		return nil, errors.New("natsrv: Dir is required")
	}
	if o.Port == 0 {
		o.Port = -1 // nats-server: a random port
	}
	n := &Server{opts: o}
	if err := n.Restart(); err != nil {
		return nil, err
	}
	return n, nil
}

// Restart starts the server again (after Stop) on the same port and store.
func (n *Server) Restart() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.s != nil {
		return errors.New("natsrv: already running")
	}
	o := n.opts
	opts := &server.Options{Host: "127.0.0.1", Port: o.Port, JetStream: true, StoreDir: o.Dir,
		NoLog: !o.Log, NoSigs: true, MaxPayload: o.MaxPayload, MaxPending: o.MaxPending}
	s, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("natsrv: %w", err)
	}
	if o.Log {
		s.ConfigureLogger()
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return errors.New("natsrv: nats-server not ready within 10s")
	}
	n.s = s
	n.opts.Port = s.Addr().(*net.TCPAddr).Port
	return nil
}

// Stop shuts the server down (a NATS outage); Restart brings it back.
// Safe to call when stopped.
func (n *Server) Stop() {
	n.mu.Lock()
	s := n.s
	n.s = nil
	n.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// URL is nats://127.0.0.1:PORT.
func (n *Server) URL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return fmt.Sprintf("nats://127.0.0.1:%d", n.opts.Port)
}

// Running reports whether the server is up.
func (n *Server) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.s != nil
}

// Port is the server's port (kept across restarts).
func (n *Server) Port() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.opts.Port
}

// NumSubscriptions is the server's count of client subscriptions (0 when
// stopped): the interest the nodes hold.
func (n *Server) NumSubscriptions() uint32 {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.s == nil {
		return 0
	}
	return n.s.NumSubscriptions()
}
