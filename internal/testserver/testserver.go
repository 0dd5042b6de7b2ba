// Package testserver is test support for the clients (client/, clients/js):
// a real Starling server (server.New on a poller engine, with a running
// coarse clock) on a loopback port, and the server-side cuts the clients'
// tests need: dropping a connection without a close frame, or closing it
// with a given code, as the server's own policies would.
//
// It is internal and imported only by _test files; it must never be used by
// the server or by a client at run time.
package testserver

import (
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"

	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/poller"
	"github.com/starling-ws/starling/server"
	"github.com/starling-ws/starling/shard"
)

// Server is a running server; it stops when the test ends.
type Server struct {
	Srv  *server.Server
	Addr string // host:port
	URL  string // ws://host:port/ws
	cfg  func(*server.Config)
}

// Start runs a server on engine ("epoll" or "netpoll") with the default
// configuration changed by cfg (may be nil).
func Start(tb testing.TB, engine string, cfg func(*server.Config)) *Server {
	tb.Helper()
	return start(tb, engine, "127.0.0.1:0", cfg)
}

// Restart stops the server and starts a new one (new epochs, no history)
// on the same address.
func (s *Server) Restart(tb testing.TB) *Server {
	tb.Helper()
	s.Srv.Close()
	return start(tb, s.Srv.Engine().Name(), s.Addr, s.cfg)
}

func start(tb testing.TB, engine, addr string, cfg func(*server.Config)) *Server {
	c := server.Defaults()
	c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if cfg != nil {
		cfg(&c)
	}
	eng, err := poller.New(engine, poller.Config{Addr: addr})
	if err != nil {
		tb.Fatalf("engine %s: %v", engine, err)
	}
	clock := shard.NewClock()
	clock.Start()
	srv, err := server.New(c, eng, clock)
	if err != nil {
		tb.Fatalf("server: %v", err)
	}
	if err := srv.Start(); err != nil {
		tb.Fatalf("start: %v", err)
	}
	tb.Cleanup(func() {
		srv.Close()
		clock.Stop()
	})
	addr = eng.Addr().String()
	return &Server{Srv: srv, Addr: addr, URL: "ws://" + addr + c.Path, cfg: cfg}
}

// Cut drops every connection whose peer is not in keep, at once and
// without a close frame (what a crashed node or a lost route looks like to
// the client: 1006), and returns how many it dropped.
func (s *Server) Cut(keep ...net.Addr) int {
	return s.each(keep, func(c *poller.Conn) { c.Close() })
}

// CloseWith sends a close frame with code and reason to every connection
// whose peer is not in keep, then ends it once written (as the server does
// for its own closes), and returns how many.
func (s *Server) CloseWith(code uint16, reason string, keep ...net.Addr) int {
	f := frame.AppendClose(nil, ws.StatusCode(code), reason)
	return s.each(keep, func(c *poller.Conn) { c.CloseAfter(f) })
}

func (s *Server) each(keep []net.Addr, f func(*poller.Conn)) int {
	n := 0
	for _, c := range s.Srv.Hub().Conns() {
		if kept(c, keep) {
			continue
		}
		f(c)
		n++
	}
	return n
}

// kept reports whether c's peer is one of keep (getpeername on the
// connection's descriptor, which stays open while it is registered).
func kept(c *poller.Conn, keep []net.Addr) bool {
	sa, err := unix.Getpeername(c.Fd())
	if err != nil {
		return false
	}
	in, ok := sa.(*unix.SockaddrInet4)
	if !ok {
		return false
	}
	for _, k := range keep {
		if t, ok := k.(*net.TCPAddr); ok && t.Port == in.Port && t.IP.Equal(net.IP(in.Addr[:])) {
			return true
		}
	}
	return false
}

// Silent starts a peer that completes every WebSocket handshake and then
// reads everything and answers nothing (a dead server behind a live TCP
// connection), for the clients' ping tests. It returns its ws:// URL and
// the number of connections it has accepted.
func Silent(tb testing.TB) (string, *atomic.Int64) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	accepted := new(atomic.Int64)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer nc.Close()
				if _, err := ws.Upgrade(nc); err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, nc)
			}()
		}
	}()
	return "ws://" + ln.Addr().String() + "/ws", accepted
}
