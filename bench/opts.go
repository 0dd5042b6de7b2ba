package bench

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/starling-ws/starling/bench/worker"
)

// Opts are the flags shared by the scenarios (parsed in main.go).
type Opts struct {
	N         int
	Ns        []int // idle: several counts, one fresh server each
	Repeat    int
	IdleSub   bool    // idle: one sub + ack per connection before the hold
	Rate      float64 // dials per second, all workers together (0: unpaced)
	PerWorker int
	Duration  time.Duration // hold time (idle) / cap of the measured phase
	Timeout   time.Duration // cap of the whole run

	Spawn        bool
	Engine       string
	PingInterval time.Duration
	URL          string
	PID          int
	Metrics      string
	Extra        []string

	Publishes  int     // per publisher
	PubRate    float64 // publishes per second, all publishers together
	Size       int     // data bytes per publish
	Channels   int
	Publishers int
	Compress   bool          // broadcast, idle: subscribers offer permessage-deflate (compress.go)
	Procs      int           // cluster: server processes
	Standby    bool          // cluster: start a standby process before the drain even if the others could hold its clients
	Fraction   float64       // storm
	StormM     int           // storm -m: new clients handshaking at once (storm_admit.go)
	AcceptRate float64       // the server's -accept-rate, if given after -- (0: unknown)
	Grace      time.Duration // pressure: the server's -close-grace (from the flags after --)

	Tokens        bool   // every connection sends a token of its own (tokens.go)
	JWTSecretFile string // the HMAC secret the tokens are signed with ("" with -spawn: a fresh one)

	Out, Chart, Profile string
	Stderr              io.Writer // live progress
}

// session is a target plus the client fleet of one run.
type session struct {
	t     *Target
	fl    *worker.Fleet
	smp   *Sampler
	prog  *Progress
	token *worker.TokenSpec // nil without -tokens
	clean func()            // removes a secret file made for the run
}

func (o *Opts) open(ctx context.Context, n int, prog *Progress) (*session, error) {
	s := &session{prog: prog}
	extra, err := s.tokens(o)
	if err != nil {
		return nil, err
	}
	if o.Spawn {
		s.t, err = Spawn(ctx, SpawnOpts{Engine: o.Engine, PingInterval: o.PingInterval, MaxConns: n + 1000, Extra: append(extra, o.Extra...)})
	} else {
		s.t, err = Attach(o.URL, o.PID, o.Metrics)
	}
	if err != nil {
		s.cleanup()
		return nil, err
	}
	s.smp = &Sampler{PID: s.t.PID, MetricsURL: s.t.MetricsURL}
	if s.fl, err = worker.StartFleet(ctx, n, o.PerWorker); err != nil {
		s.t.Stop()
		s.cleanup()
		return nil, fmt.Errorf("workers: %w", err)
	}
	if err := s.giveTokens(ctx); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// close ends the workers first (their sockets close), then a spawned server.
func (s *session) close() {
	if s == nil {
		return
	}
	s.fl.Stop()
	s.t.Stop()
	s.cleanup()
}

func (s *session) cleanup() {
	if s.clean != nil {
		s.clean()
		s.clean = nil
	}
}

func (s *session) dial(ctx context.Context, o *Opts, n int, tmpl worker.Cmd, tick ...func(worker.WStats)) (worker.WStats, error) {
	return dialFleet(ctx, s.fl, s.t.Addr, s.t.Path, n, o.Rate, tmpl, s.prog, tick...)
}

func (o *Opts) prog() *Progress { return NewProgress(o.Stderr) }

// extraFlag finds -name (or --name) among the serve flags after --, as
// "-name=v" or "-name v".
func extraFlag(extra []string, name string) (string, bool) {
	for i, a := range extra {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
		if a == name && i+1 < len(extra) {
			return extra[i+1], true
		}
	}
	return "", false
}
