package metrics_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
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

func closeBody(code ws.StatusCode) []byte { return ws.NewCloseFrameBody(code, "") }

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
