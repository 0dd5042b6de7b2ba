package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/starling-ws/starling/api"
	"github.com/starling-ws/starling/cluster"
	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/metrics"
	"github.com/starling-ws/starling/poller"
	"github.com/starling-ws/starling/server"
	"github.com/starling-ws/starling/shard"
	"golang.org/x/net/netutil"
)

// serveConfig is everything `starling serve` is told by its flags.
type serveConfig struct {
	server    server.Config
	engine    poller.Config
	engName   string
	drain     time.Duration
	logLevel  string
	logFormat string
	adminAddr string
	pprof     bool
	gate      gateFlags
	cluster   clusterFlags
}

func serveFlags(fs *flag.FlagSet) *serveConfig {
	c := &serveConfig{server: server.Defaults()}
	// 64 KiB (the kernel makes it 128): no slower than the kernel's own
	// autotuning for small-message fan-out (docs/benchmarks.md#send-buffer),
	// and a slow connection pins 128 KiB of kernel memory, not 4 MiB.
	c.engine.SendBuffer = defaultSendBuffer
	s := &c.server
	fs.StringVar(&c.engine.Addr, "addr", ":8080", "listen address for WebSocket clients")
	fs.StringVar(&s.Path, "path", s.Path, "WebSocket upgrade path")
	fs.StringVar(&c.engName, "engine", defaultEngine, "reactor engine: epoll (native, dense) or netpoll (cloudwego/netpoll)")
	fs.IntVar(&c.engine.Loops, "loops", 0, "event loops for the epoll engine (0: GOMAXPROCS)")
	fs.IntVar(&s.Shards, "shards", 0, "connection/channel shards, a power of two (0: next power of two >= GOMAXPROCS)")
	fs.IntVar(&s.MaxConns, "max-conns", s.MaxConns, "WebSocket connections; upgrades beyond get 503 (memory: N x idle cost, docs/memory.md)")
	fs.IntVar(&s.MaxHandshakes, "max-handshakes", s.MaxHandshakes, "connections accepted and not yet upgraded; beyond, 503 at once (memory: N x 8 KiB worst case)")
	fs.IntVar(&s.MaxMessage, "max-message", s.MaxMessage, "largest message payload in bytes (reassembled, or converted between encodings); larger closes with 1009 (a pub converting larger: err 413)")
	fs.Var(intBytes{&c.engine.SendBuffer}, "sndbuf", "SO_SNDBUF of every accepted socket, e.g. 128KiB (the kernel doubles it and stops autotuning); 0: the kernel's (tcp_wmem, up to its max per socket); kernel memory per slow connection is about twice this")
	fs.IntVar(&c.engine.MaxOutbound, "max-outbound", poller.DefaultMaxOutbound, "unsent bytes queued per connection; past it the client is closed with 1008 (memory: slow connections x this)")
	fs.IntVar(&s.MaxSubscriptions, "max-subscriptions", s.MaxSubscriptions, "channels one connection may subscribe to; err 429 beyond (memory: N x 16-24 B, more for channels of their own)")
	fs.IntVar(&s.MaxChannels, "max-channels", s.MaxChannels, "channels that may exist at once; err 429 beyond (memory: N x 128 B)")
	fs.Var(bytesValue{&s.FanoutQueue}, "max-fanout-queue", "payload bytes of publishes queued for the fan-out, all shards together; err 429 beyond (e.g. 256MiB)")
	fs.IntVar(&s.PublishRate, "max-publish-rate", s.PublishRate, "publishes per second per connection (token bucket of one second); err 429 beyond; 0: no limit")
	fs.IntVar(&s.HistorySize, "history-size", s.HistorySize, "publications kept per channel for resume (0: no history)")
	fs.DurationVar(&s.HistoryTTL, "history-ttl", s.HistoryTTL, "how long a publication is kept, and a channel outlives its last subscriber")
	fs.Var(bytesValue{&s.HistoryMemory}, "history-memory", "bytes of kept publications, all channels together; oldest evicted first (e.g. 128MiB)")
	fs.IntVar(&s.MaxReplay, "max-replay", s.MaxReplay, "publications one sub may replay (since); a larger gap answers recovered:false")
	fs.DurationVar(&s.PingInterval, "ping-interval", s.PingInterval, "server ping period for idle connections (spread by jitter)")
	fs.DurationVar(&s.PongTimeout, "pong-timeout", s.PongTimeout, "close a connection this long after an unanswered ping")
	fs.DurationVar(&s.HandshakeTimeout, "handshake-timeout", s.HandshakeTimeout, "time from accept to a complete upgrade request")
	fs.DurationVar(&s.FragmentTimeout, "fragment-timeout", s.FragmentTimeout, "time from a message's first fragment to its last")
	fs.DurationVar(&s.CloseGrace, "close-grace", s.CloseGrace, "time the peer gets to finish a close handshake")
	fs.DurationVar(&c.drain, "drain-timeout", 10*time.Second, "on SIGTERM: time to close connections with 1001 (spread over the first half)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.adminAddr, "admin-addr", "127.0.0.1:9090", "admin HTTP listener for /metrics, /healthz, /readyz (\"\" disables)")
	fs.BoolVar(&c.pprof, "pprof", false, "serve /debug/pprof/ on the admin listener")
	fs.DurationVar(&s.AuthTimeout, "auth-timeout", s.AuthTimeout, "with a token key: time from the upgrade to an auth op when the request carried no token (4401 beyond)")
	c.gate.register(fs)
	registerCompress(fs, s)
	c.cluster.register(fs, s)
	return c
}

// defaultSendBuffer is -sndbuf's default (see serveFlags).
const defaultSendBuffer = 64 << 10

// defaultEngine is chosen by the bench (docs/design.md, "Default engine: epoll").
const defaultEngine = "epoll"

func (c *serveConfig) validate() error {
	if _, _, err := net.SplitHostPort(c.engine.Addr); err != nil {
		return fmt.Errorf("-addr must be host:port (\":8080\" for every address), got %q", c.engine.Addr)
	}
	if c.engName != "epoll" && c.engName != "netpoll" {
		return fmt.Errorf("-engine must be epoll or netpoll, got %q", c.engName)
	}
	if c.engine.SendBuffer != 0 && (c.engine.SendBuffer < 4096 || c.engine.SendBuffer > 64<<20) {
		return fmt.Errorf("-sndbuf must be 0 (the kernel's) or in [4KiB, 64MiB], got %d", c.engine.SendBuffer)
	}
	if c.engine.Loops < 0 || c.engine.Loops > 256 {
		return fmt.Errorf("-loops must be in [0, 256] (0: GOMAXPROCS), got %d", c.engine.Loops)
	}
	if c.engine.MaxOutbound < 1024 || c.engine.MaxOutbound > 1<<30 {
		return fmt.Errorf("-max-outbound must be in [1024, 1GiB], got %d", c.engine.MaxOutbound)
	}
	// One msg frame must fit the queue: a frame larger than the bound would
	// close every subscriber that is merely reading it (issue 14).
	if need := c.server.MaxMessage + frame.MaxMsgOverhead + frame.MaxChannel; c.engine.MaxOutbound < need {
		return fmt.Errorf("-max-outbound (%d) must hold one -max-message frame (%d + %d bytes of framing)",
			c.engine.MaxOutbound, c.server.MaxMessage, need-c.server.MaxMessage)
	}
	if c.drain < 0 || c.drain > time.Hour {
		return fmt.Errorf("-drain-timeout must be in [0, 1h], got %v", c.drain)
	}
	if _, err := parseLevel(c.logLevel); err != nil {
		return err
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return fmt.Errorf("-log-format must be text or json, got %q", c.logFormat)
	}
	if c.adminAddr != "" {
		if _, _, err := net.SplitHostPort(c.adminAddr); err != nil {
			return fmt.Errorf("-admin-addr must be host:port or \"\", got %q", c.adminAddr)
		}
	}
	if c.pprof && c.adminAddr == "" {
		return fmt.Errorf("-pprof needs the admin listener (-admin-addr is \"\")")
	}
	if err := c.cluster.load(c); err != nil {
		return err
	}
	if err := c.server.Validate(); err != nil {
		return err
	}
	return c.gate.load(c)
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("-log-level must be debug, info, warn or error, got %q", s)
	}
	return l, nil
}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	l, _ := parseLevel(level)
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serveMain(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg := serveFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "starling serve: unexpected argument %q (flags only; see -h)\n", fs.Arg(0))
		return 2
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "starling serve:", err)
		return 2
	}
	if runtime.GOOS != "linux" {
		fmt.Fprintf(os.Stderr, "starling serve: needs Linux (both engines are built on epoll); this is %s\n", runtime.GOOS)
		return 1
	}
	log := newLogger(os.Stderr, cfg.logFormat, cfg.logLevel)
	slog.SetDefault(log)
	cfg.server.Logger, cfg.engine.Logger = log, log
	checkNoFile(log, cfg.server.MaxConns)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, log, nil); err != nil {
		log.Error("serve", "err", err)
		return 1
	}
	return 0
}

// serve builds the parts, serves until ctx ends, then drains and stops them
// in reverse order. ready, if set, receives the server once it accepts.
func serve(ctx context.Context, cfg *serveConfig, log *slog.Logger, ready chan<- *server.Server) error {
	// Metrics first: its RSS baseline must predate every connection, and
	// its histograms are the server's fan-out and tick-lag hooks.
	met := metrics.New(metrics.Options{Logger: log})
	cfg.server.OnFanout, cfg.server.OnTickLag, cfg.server.OnJoinWait = met.ObserveFanout, met.ObserveTickLag, met.ObserveJoinWait
	eng, err := poller.New(cfg.engName, cfg.engine)
	if err != nil {
		return err
	}
	clock := shard.NewClock()
	clock.Start()
	defer clock.Stop()
	srv, err := server.New(cfg.server, eng, clock)
	if err != nil {
		return err
	}
	bus, err := joinCluster(cfg, srv, met, log)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		if bus != nil {
			bus.Close()
		}
		return err
	}
	met.Attach(srv)
	admin, err := met.Serve(cfg.adminAddr, cfg.pprof)
	if err != nil {
		srv.Close()
		return err
	}
	// The API last: its publishes need the running server.
	apiSrv, err := serveAPI(cfg, srv, log)
	if err != nil {
		admin.Close()
		srv.Close()
		return err
	}
	if ready != nil {
		ready <- srv
	}
	<-ctx.Done()

	met.BeginShutdown() // /readyz says 503 before the first 1001 goes out
	log.Info("shutdown: draining", "timeout", cfg.drain)
	dctx, cancel := context.WithTimeout(context.Background(), cfg.drain)
	defer cancel()
	// Drain stops the API first: no publish is accepted once the
	// connections are being told to go, and the ones it acknowledged
	// (Shutdown waits for requests in flight) are flushed to their
	// subscribers by Drain before any 1001.
	if apiSrv != nil {
		if aerr := apiSrv.Shutdown(dctx); aerr != nil {
			log.Warn("api listener shutdown", "err", aerr)
			apiSrv.Close()
		}
	}
	_ = srv.Drain(dctx)
	if bus != nil {
		// The clients are gone (their publishes were answered before
		// their 1001, in srv.Drain): wait for any ack still in flight
		// (within what is left of the drain time), then stop the bus
		// before the hub it delivers to.
		if berr := bus.Drain(dctx); berr != nil {
			log.Warn("cluster bus drain", "err", berr)
		}
		bus.Close()
	}
	err = srv.Close()
	if aerr := admin.Close(); aerr != nil {
		log.Warn("admin listener close", "err", aerr)
	}
	log.Info("stopped")
	return err
}

// joinCluster connects the bus with -nats (nil without) with srv as its
// Sink (srv.JoinCluster). It does not wait for NATS: the node serves
// its own clients meanwhile and /readyz says why it is not ready.
func joinCluster(cfg *serveConfig, srv *server.Server, met *metrics.Metrics, log *slog.Logger) (*cluster.Bus, error) {
	f := &cfg.cluster
	if f.url == "" {
		return nil, nil
	}
	cc := f.config(f.url, "starling "+cfg.engine.Addr)
	cc.HistorySize, cc.HistoryTTL = cfg.server.HistorySize, cfg.server.HistoryTTL
	cc.MaxInflight = cfg.server.BusMaxInflight
	cc.OnEpoch, cc.OnPublish = srv.Hub().SetEpoch, met.ObserveBusPublish
	var bus *cluster.Bus
	if err := srv.JoinCluster(func(sink cluster.Sink) (*cluster.Bus, error) {
		b, err := cluster.Connect(cc, sink, log)
		bus = b
		return b, err
	}); err != nil {
		if bus != nil {
			bus.Close()
		}
		return nil, fmt.Errorf("-nats: %w", err)
	}
	log.Info("cluster: joining", "nats", f.url, "stream", cc.Stream, "prefix", cc.Prefix, "storage", cc.Storage.String())
	return bus, nil
}

// serveAPI starts the HTTP API on -api-addr (nil without it). The
// listener is bound here, so a bad address fails the start.
func serveAPI(cfg *serveConfig, srv *server.Server, log *slog.Logger) (*http.Server, error) {
	if cfg.gate.apiAddr == "" {
		return nil, nil
	}
	h, err := api.New(api.Config{Keys: cfg.gate.apiKeys, MaxBody: cfg.server.MaxMessage, Logger: log}, srv)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.gate.apiAddr)
	if err != nil {
		return nil, fmt.Errorf("-api-addr: %w", err)
	}
	// Beyond -api-max-conns, connections wait in the kernel's backlog
	// instead of each taking a descriptor (shared with the WebSocket
	// listener's -max-conns) and a goroutine until its header deadline.
	ln = netutil.LimitListener(ln, cfg.gate.apiMaxConns)
	hs := h.Server(ln.Addr().String())
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("api listener", "err", err)
		}
	}()
	log.Info("api listening", "addr", ln.Addr().String())
	return hs, nil
}

// checkNoFile says, in one line, what to raise when the descriptor limit
// cannot hold -max-conns (plus listeners, epoll and log files).
func checkNoFile(log *slog.Logger, maxConns int) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return
	}
	need := uint64(maxConns) + 64 + uint64(runtime.GOMAXPROCS(0))*2
	if rl.Cur >= need {
		return
	}
	log.Warn(fmt.Sprintf("RLIMIT_NOFILE is %d but -max-conns %d needs %d: raise it (systemd LimitNOFILE=%d, or ulimit -n %d; fs.nr_open must allow it, see scripts/sysctl.sh check) or lower -max-conns",
		rl.Cur, maxConns, need, need, need), "nofile", rl.Cur, "hard", rl.Max, "need", need)
}
