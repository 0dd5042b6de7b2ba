package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/starling-ws/starling/cluster"
	"github.com/starling-ws/starling/internal/natsrv"
	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/poller"
	"github.com/starling-ws/starling/server"
	"github.com/starling-ws/starling/shard"
)

// startNATS runs an embedded nats-server with JetStream for one test.
func startNATS(t testing.TB) *natsrv.Server {
	t.Helper()
	s, err := natsrv.Start(natsrv.Options{Dir: t.TempDir(), Log: os.Getenv("NATS_LOG") != ""})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// node is one cluster node: a real server on a loopback port with its bus.
type node struct {
	*testServer
	bus  *cluster.Bus
	once sync.Once
}

type nodeOpts struct {
	srv func(*server.Config)
	bus func(*cluster.Config)
}

func logger() *slog.Logger {
	if os.Getenv("CLUSTER_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startNode runs a node on nats (epoll engine), as serve wires one.
func startNode(t testing.TB, nats string, o nodeOpts) *node {
	t.Helper()
	cfg := server.Defaults()
	cfg.Logger = logger()
	cfg.HistorySize = 1000
	cfg.MaxReplay = 1000
	cfg.BusFetchTimeout = 5 * time.Second
	if o.srv != nil {
		o.srv(&cfg)
	}
	eng, err := poller.New("epoll", poller.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	clock := shard.NewClock()
	clock.Start()
	srv, err := server.New(cfg, eng, clock)
	if err != nil {
		t.Fatal(err)
	}
	cc := cluster.Config{URL: nats, ReconnectWait: 50 * time.Millisecond, PublishTimeout: 2 * time.Second,
		FetchTimeout: 5 * time.Second, HistorySize: cfg.HistorySize, HistoryTTL: cfg.HistoryTTL,
		Storage: cluster.File, MaxInflight: cfg.BusMaxInflight, OnEpoch: srv.Hub().SetEpoch}
	if o.bus != nil {
		o.bus(&cc)
	}
	var bus *cluster.Bus
	if err := srv.JoinCluster(func(sink cluster.Sink) (*cluster.Bus, error) {
		b, err := cluster.Connect(cc, sink, cfg.Logger)
		bus = b
		return b, err
	}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	addr := eng.Addr().String()
	n := &node{testServer: &testServer{srv: srv, clock: clock, addr: addr, url: "ws://" + addr + cfg.Path}, bus: bus}
	t.Cleanup(func() { n.kill(); clock.Stop() })
	return n
}

// kill stops the node at once, as a crash looks from outside: the bus
// connection drops, every client socket closes without a close frame.
func (n *node) kill() {
	n.once.Do(func() {
		n.bus.Close()
		n.srv.Close()
	})
}

// drain is serve's shutdown: 1001 to every client, then the bus, then the
// rest. It returns the first error (it may run on a goroutine of its own).
func (n *node) drain() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer n.kill()
	if err := n.srv.Drain(ctx); err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	if err := n.bus.Drain(ctx); err != nil {
		return fmt.Errorf("bus drain: %w", err)
	}
	return nil
}

func (n *node) waitReady(t testing.TB) {
	t.Helper()
	wstest.WaitFor(t, "the bus ready on "+n.addr, func() bool { ok, _ := n.srv.BusReady(); return ok })
}

// startNodes starts k nodes on one NATS server and waits until all are ready.
func startNodes(t testing.TB, nats string, k int, o nodeOpts) []*node {
	t.Helper()
	ns := make([]*node, k)
	for i := range ns {
		ns[i] = startNode(t, nats, o)
	}
	for _, n := range ns {
		n.waitReady(t)
	}
	return ns
}

// dialSub connects to n and subscribes to ch (JSON), returning the conn
// and the ack.
func dialSub(t *testing.T, n *node, ch string, since map[string]any) (*wstest.Conn, map[string]any) {
	t.Helper()
	c := wstest.Dial(t, n.addr).Upgrade()
	op := jsonOp("sub", ch, 1, nil)
	if since != nil {
		op["since"] = since
	}
	c.SendJSON(op)
	ack := c.NextJSON()
	expectKV(t, ack, "op", "ack", "id", 1)
	return c, ack
}

// lb is a TCP load balancer in front of nodes: each new client connection
// goes to the next backend that accepts it, so a client whose node went
// away reconnects to another through the same address, as behind a real
// one.
type lb struct {
	ln       net.Listener
	mu       sync.Mutex
	backends []string
	next     int
	wg       sync.WaitGroup
}

func startLB(t testing.TB, backends ...string) *lb {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &lb{ln: ln, backends: backends}
	l.wg.Add(1)
	go l.serve()
	t.Cleanup(func() { ln.Close(); l.wg.Wait() })
	return l
}

func (l *lb) url() string { return "ws://" + l.ln.Addr().String() + "/ws" }

func (l *lb) serve() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer c.Close()
			b := l.dial()
			if b == nil {
				return
			}
			defer b.Close()
			done := make(chan struct{}, 2)
			go func() { io.Copy(b, c); b.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			go func() { io.Copy(c, b); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}

// dial connects to the next backend that accepts.
func (l *lb) dial() net.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	for range l.backends {
		addr := l.backends[l.next%len(l.backends)]
		l.next++
		if b, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			return b
		}
	}
	return nil
}

// only routes new connections to addr alone from now on.
func (l *lb) only(addr ...string) {
	l.mu.Lock()
	l.backends = addr
	l.mu.Unlock()
}

func msgData(m map[string]any) string { return fmt.Sprint(m["data"]) }
