package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Admin is the operator's HTTP listener, separate from the WebSocket port
// (default 127.0.0.1:9090, loopback: pprof and metrics are not for the
// internet). It also runs the periodic summary log line.
type Admin struct {
	m    *Metrics
	ln   net.Listener // nil when the listener is disabled
	hs   *http.Server
	stop chan struct{}
	done chan struct{}
	once sync.Once
	err  error
}

// Serve starts the admin listener on addr ("" disables it; the summary line
// still runs) with /metrics, /healthz, /readyz and, if pprof, /debug/pprof/.
// It returns once the listener is bound.
func (m *Metrics) Serve(addr string, withPprof bool) (*Admin, error) {
	a := &Admin{m: m, stop: make(chan struct{}), done: make(chan struct{})}
	if addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("admin listener %s: %w", addr, err)
		}
		a.ln = ln
		a.hs = &http.Server{
			Handler:           m.Handler(withPprof),
			ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout:       time.Minute,
			ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		}
		go func() {
			if err := a.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				m.log.Error("admin listener", "err", err)
			}
		}()
		m.log.Info("admin listening", "addr", ln.Addr().String(), "pprof", withPprof)
	}
	go m.summarize(a.stop, a.done)
	return a, nil
}

// Addr is the bound admin address (nil when disabled).
func (a *Admin) Addr() net.Addr {
	if a.ln == nil {
		return nil
	}
	return a.ln.Addr()
}

// Close stops the summary line and shuts the listener down, letting a
// scrape in progress finish for up to a second. Safe to call more than once.
func (a *Admin) Close() error {
	a.once.Do(func() {
		close(a.stop)
		<-a.done
		if a.hs == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := a.hs.Shutdown(ctx); err != nil {
			a.err = fmt.Errorf("admin listener: %w", errors.Join(err, a.hs.Close()))
		}
	})
	return a.err
}

// Handler is the admin mux. pprof handlers are mounted on it explicitly,
// never on http.DefaultServeMux.
func (m *Metrics) Handler(withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A failed /proc read drops that one metric, not the scrape.
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		Registry:      m.reg, // promhttp_metric_handler_errors_total
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if ok, why := m.ready.check(); !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", why)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}
