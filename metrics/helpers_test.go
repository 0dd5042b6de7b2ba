package metrics_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/starling-ws/starling/metrics"
	"github.com/starling-ws/starling/poller"
	"github.com/starling-ws/starling/server"
	"github.com/starling-ws/starling/shard"
)

var engines = []string{"epoll", "netpoll"}

func eachEngine(t *testing.T, f func(t *testing.T, engine string)) {
	for _, e := range engines {
		t.Run(e, func(t *testing.T) { f(t, e) })
	}
}

// logBuf is a goroutine-safe log sink the tests can grep.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// rig is a real server (engine, clock, shards) with its metrics and admin
// listener, both on loopback ports picked by the kernel.
type rig struct {
	srv    *server.Server
	met    *metrics.Metrics
	admin  *metrics.Admin
	clock  *shard.Clock
	wsAddr string
	base   string // http://admin-addr
	logs   *logBuf
}

func startRig(t *testing.T, engine string, mutate func(*server.Config)) *rig {
	t.Helper()
	return startRigOpts(t, engine, mutate, metrics.Options{SummaryEvery: -1})
}

func startRigOpts(t *testing.T, engine string, mutate func(*server.Config), mo metrics.Options) *rig {
	t.Helper()
	logs := &logBuf{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	mo.Logger = log
	met := metrics.New(mo)
	cfg := server.Defaults()
	cfg.Logger = log
	cfg.CloseGrace = 2 * time.Second
	cfg.OnFanout, cfg.OnTickLag = met.ObserveFanout, met.ObserveTickLag
	if mutate != nil {
		mutate(&cfg)
	}
	eng, err := poller.New(engine, poller.Config{Addr: "127.0.0.1:0", Logger: log})
	if err != nil {
		t.Fatalf("engine %s: %v", engine, err)
	}
	clock := shard.NewClock()
	clock.Start()
	srv, err := server.New(cfg, eng, clock)
	if err != nil {
		t.Fatalf("server: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	met.Attach(srv)
	admin, err := met.Serve("127.0.0.1:0", true)
	if err != nil {
		t.Fatalf("admin: %v", err)
	}
	t.Cleanup(func() {
		srv.Close()
		clock.Stop()
		if err := admin.Close(); err != nil {
			t.Errorf("admin close: %v", err)
		}
	})
	return &rig{srv: srv, met: met, admin: admin, clock: clock, wsAddr: eng.Addr().String(),
		base: "http://" + admin.Addr().String(), logs: logs}
}

var httpc = &http.Client{Timeout: 5 * time.Second}

// get returns the status and body of an admin endpoint.
func (r *rig) get(t *testing.T, path string) (int, string) {
	t.Helper()
	return get(t, r.base+path)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := httpc.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// families scrapes /metrics and parses the exposition.
type families map[string]*dto.MetricFamily

func scrape(t *testing.T, url string) families {
	t.Helper()
	code, body := get(t, url)
	if code != 200 {
		t.Fatalf("/metrics: status %d: %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return fams
}

// value is the sample of name whose labels include the given pairs: a
// counter's or gauge's value, a histogram's sample count. -1 if absent.
func (f families) value(name string, labels ...string) float64 {
	mf := f[name]
	if mf == nil {
		return -1
	}
next:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// sum adds every sample of name (e.g. over the shard label).
func (f families) sum(name string) float64 {
	var s float64
	for _, m := range f[name].GetMetric() {
		s += m.GetGauge().GetValue() + m.GetCounter().GetValue()
	}
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// client is a WebSocket client on a bare TCP socket (gobwas/ws frames), so
// tests can send what a library would refuse.
type client struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, br: bufio.NewReader(c)}
}

func upgradeRequest(path, version string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: " + version + "\r\n\r\n"
}

// request sends an upgrade request and returns the response status.
func (c *client) request(path, version string) int {
	c.t.Helper()
	c.write([]byte(upgradeRequest(path, version)))
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (c *client) upgrade() *client {
	c.t.Helper()
	if code := c.request("/ws", "13"); code != 101 {
		c.t.Fatalf("upgrade: status %d", code)
	}
	return c
}

func (c *client) write(b []byte) {
	c.t.Helper()
	c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// send writes one masked client frame.
func (c *client) send(op ws.OpCode, p []byte) {
	c.t.Helper()
	f := ws.MaskFrameInPlace(ws.NewFrame(op, true, append([]byte(nil), p...)))
	b, err := ws.CompileFrame(f)
	if err != nil {
		c.t.Fatal(err)
	}
	c.write(b)
}

func (c *client) sendText(s string) { c.send(ws.OpText, []byte(s)) }

// next reads one server frame.
func (c *client) next() (ws.Header, []byte) {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	h, err := ws.ReadHeader(c.br)
	if err != nil {
		c.t.Fatalf("read header: %v", err)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(c.br, p); err != nil {
		c.t.Fatalf("read payload: %v", err)
	}
	return h, p
}

// nextData skips pings and returns the next data frame's payload.
func (c *client) nextData() []byte {
	c.t.Helper()
	for {
		h, p := c.next()
		if h.OpCode == ws.OpText || h.OpCode == ws.OpBinary {
			return p
		}
		if h.OpCode == ws.OpClose {
			code, reason := ws.ParseCloseFrameData(p)
			c.t.Fatalf("unexpected close %d %q", code, reason)
		}
	}
}

// nextClose reads until a close frame and returns its code.
func (c *client) nextClose() ws.StatusCode {
	c.t.Helper()
	for {
		h, p := c.next()
		if h.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(p)
			return code
		}
	}
}

// expectEOF checks the server ended the TCP connection.
func (c *client) expectEOF() {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := c.br.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				c.t.Fatalf("server did not close the connection")
			}
			return
		}
	}
}

func closeBody(code ws.StatusCode) []byte { return ws.NewCloseFrameBody(code, "") }

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
