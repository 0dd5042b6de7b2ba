package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/starling-ws/starling/bench/loadclient"
	"github.com/starling-ws/starling/bench/plan"
	"github.com/starling-ws/starling/bench/worker"
)

const benchUsage = `usage: starling bench SCENARIO [flags] [-- serve flags]

scenarios:
  connect    ramp N connections at -rate; handshakes/s and failures
  idle       hold N connections (-ns 1000,5000 for several) for -duration; memory and CPU per connection
  broadcast  N subscribers on one channel, -publishes publishes of -size bytes; latency, deliveries/s, lost
  fanin      N subscribers over -channels channels, -publishers publishers; publishes/s and latency
  storm      drop -fraction of N at once and reconnect; time to recover, refusals, collateral
             (-m M: M new clients at once against -accept-rate while N take a stream; admitted, 503s,
             Retry-After spread, time to admit all, lost publishes and latency of the N)
  resume     N subscribers over -channels under a steady stream; cut -fraction at once, they resume
             with since; lost, duplicated, recovered, time to recover
  cluster    one node of -procs serve -nats processes on an embedded NATS server: N subscribers on one
             channel (and one channel each), paced publishes, then the same while one process drains
  floor      N plain TCP sockets, no WebSocket: the kernel's cost per socket and per send
  pressure   an unpaced burst to N, a probe connecting every 20 ms, a flooder, non-readers: latency, memory, teardown
  chart      RESULT.json OUT.svg: redraw the chart of a run saved with -out

Either -spawn (run this binary's serve on a free port; flags after -- go to serve)
or -url ws://HOST:PORT/PATH of a running server (-pid, else found via /proc);
cluster spawns its own (flags after -- go to every serve).
`

// Main is `starling bench ...`. Exit: 0 done, 1 run failed, 2 usage error.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, benchUsage)
		return 2
	}
	switch args[0] {
	case "worker":
		return loadclient.Main(os.Stdin, os.Stdout)
	case "floor-server":
		return floorServerMain(os.Stdin, os.Stdout)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, benchUsage)
		return 0
	case "chart":
		if len(args) != 3 {
			fmt.Fprintln(stderr, "usage: starling bench chart RESULT.json OUT.svg|OUT.html")
			return 2
		}
		if err := ChartFromJSON(args[1], args[2]); err != nil {
			fmt.Fprintf(stderr, "starling bench chart: %v\n", err)
			return 1
		}
		return 0
	}
	scen := args[0]
	o, err := ParseBenchArgs(scen, args[1:], stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "starling bench %s: %v\n", scen, err)
		return 2
	}
	o.Stderr = stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var r *Result
	switch scen {
	case "connect":
		r, err = RunConnect(ctx, o)
	case "idle":
		r, err = RunIdle(ctx, o)
	case "broadcast":
		r, err = RunBroadcast(ctx, o)
	case "fanin":
		r, err = RunFanin(ctx, o)
	case "storm":
		r, err = RunStorm(ctx, o)
	case "pressure":
		r, err = RunPressure(ctx, o)
	case "resume":
		r, err = RunResume(ctx, o)
	case "cluster":
		r, err = RunCluster(ctx, o)
	case "floor":
		var ff *plan.FloorFigures
		ff, r, err = RunFloor(ctx, FloorOpts{N: o.N, Rounds: o.Publishes, Size: o.Size, PerWorker: o.PerWorker, Rate: o.Rate, Timeout: o.Timeout}, o.prog())
		if err == nil && o.Profile != "" {
			p, _ := plan.ReadPartial(o.Profile)
			if p == nil {
				p = &plan.Profile{Schema: plan.ProfileSchema}
			}
			p.Floor = ff
			if err = plan.WriteProfile(o.Profile, p); err == nil {
				r.addf("profile", "floor merged into %s", o.Profile)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "starling bench %s: %v\n", scen, err)
		return 1
	}
	r.WriteTable(stdout)
	if o.Out != "" {
		if err := r.WriteJSON(o.Out); err != nil {
			fmt.Fprintf(stderr, "starling bench: -out: %v\n", err)
			return 1
		}
	}
	if o.Chart != "" {
		if err := WriteChart(o.Chart, r); err != nil {
			fmt.Fprintf(stderr, "starling bench: -chart: %v\n", err)
			return 1
		}
	}
	return 0
}

// ParseBenchArgs reads a scenario's flags; every error names its flag.
func ParseBenchArgs(scen string, args []string, stderr io.Writer) (*Opts, error) {
	switch scen {
	case "connect", "idle", "broadcast", "fanin", "storm", "resume", "floor", "pressure", "cluster":
	default:
		return nil, fmt.Errorf("unknown scenario %q\n%s", scen, benchUsage)
	}
	var extra []string
	for i, a := range args {
		if a == "--" {
			args, extra = args[:i], args[i+1:]
			break
		}
	}
	fs := flag.NewFlagSet("bench "+scen, flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &Opts{Extra: extra}
	if v, ok := extraFlag(extra, "close-grace"); ok { // pressure waits for the server's close grace
		o.Grace, _ = time.ParseDuration(v)
	}
	if v, ok := extraFlag(extra, "accept-rate"); ok { // storm -m paces its subscribers under it
		o.AcceptRate, _ = strconv.ParseFloat(v, 64)
	}
	fs.IntVar(&o.N, "n", 1000, "connections (subscribers)")
	ns := fs.String("ns", "", "idle: several counts, e.g. 1000,5000,10000,19000 (a fresh server for each)")
	fs.IntVar(&o.Repeat, "repeat", 1, "idle: runs per count; the table quotes medians")
	fs.BoolVar(&o.IdleSub, "sub", false, "idle: every connection subscribes (sends sub, receives ack) before the hold: the cost after one message each way")
	fs.Float64Var(&o.Rate, "rate", 2000, "connections dialled per second, all workers together (0: unpaced)")
	fs.IntVar(&o.PerWorker, "per-worker", worker.MaxPerWorker, "sockets per worker process (<= 19000)")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "idle: hold time; broadcast/fanin: cap on the publish phase")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "cap on the whole run")
	fs.BoolVar(&o.Spawn, "spawn", false, "run `starling serve` on a free port for the run (flags after -- are passed to it)")
	fs.StringVar(&o.Engine, "engine", "epoll", "with -spawn: server engine, epoll or netpoll")
	fs.DurationVar(&o.PingInterval, "ping-interval", 0, "with -spawn: server -ping-interval (0: server default)")
	fs.StringVar(&o.URL, "url", "", "running server, e.g. ws://127.0.0.1:8080/ws")
	fs.IntVar(&o.PID, "pid", 0, "with -url: server process id (0: find the listener via /proc)")
	fs.StringVar(&o.Metrics, "metrics", "", "with -url: admin metrics URL, e.g. http://127.0.0.1:9090/metrics")
	fs.IntVar(&o.Publishes, "publishes", 20, "broadcast/fanin/resume: publishes per publisher (resume: per channel); floor: write rounds")
	fs.Float64Var(&o.PubRate, "pub-rate", 10, "publishes per second, all publishers together (0: unpaced; resume's default is 200)")
	fs.IntVar(&o.Size, "size", 64, "bytes of data per publish (>= 32: it carries the send time)")
	fs.IntVar(&o.Channels, "channels", 100, "fanin/resume: channels")
	fs.IntVar(&o.Publishers, "publishers", 100, "fanin: publishers")
	fs.Float64Var(&o.Fraction, "fraction", 0.2, "storm/resume: fraction of N dropped at once")
	fs.BoolVar(&o.Compress, "compress", false, "broadcast: run plain, then with every subscriber offering permessage-deflate, and report both; idle: every connection offers it")
	fs.IntVar(&o.StormM, "m", 0, "storm: M new clients handshake at once while the N subscribers take a -pub-rate stream for -duration, retrying each 503 after its Retry-After (run the server with -accept-rate); 0: drop -fraction of N and redial instead")
	fs.IntVar(&o.Procs, "procs", 8, "cluster: serve processes making up the node")
	fs.BoolVar(&o.Standby, "standby", false, "cluster: start a standby process before the drain (as a rolling restart does) even if the others could hold the drained one's clients")
	fs.StringVar(&o.Out, "out", "", "write the result as JSON to this file")
	fs.StringVar(&o.Chart, "chart", "", "write a chart (self-contained SVG) to this file")
	fs.BoolVar(&o.Tokens, "tokens", false, "every connection sends a token of its own (Authorization: Bearer, HS256, a distinct sub); with -spawn the server gets the key")
	fs.StringVar(&o.JWTSecretFile, "jwt-secret-file", "", "with -tokens: the HMAC secret file to sign with (with -url: the running server's; with -spawn: default a fresh one)")
	fs.StringVar(&o.Profile, "profile", "", "idle: write the profile plan reads (e.g. "+plan.DefaultProfile+"); broadcast/floor: merge figures into it")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (serve flags go after --)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if scen == "cluster" {
		if !set["pub-rate"] {
			o.PubRate = 0.5 // one fan-out to 152,000 at a time on two cores
		}
		if !set["timeout"] {
			o.Timeout = 15 * time.Minute
		}
		if o.PubRate <= 0 {
			return nil, errors.New("-pub-rate must be > 0 for cluster (one fan-out at a time)")
		}
		if o.Procs < 2 || o.Procs > 64 {
			return nil, fmt.Errorf("-procs must be in [2, 64], got %d", o.Procs)
		}
	}
	if scen == "resume" {
		if !set["pub-rate"] {
			o.PubRate = 200 // 2/s on each of the 100 default channels: a replay to do after every cut
		}
		if o.PubRate <= 0 {
			return nil, errors.New("-pub-rate must be > 0 for resume (a steady stream)")
		}
		if o.Channels > o.N {
			return nil, fmt.Errorf("-channels must be <= -n for resume, got %d > %d", o.Channels, o.N)
		}
	}
	if *ns != "" {
		for _, f := range strings.Split(*ns, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || v < 1 {
				return nil, fmt.Errorf("-ns must be a comma-separated list of positive counts, got %q", *ns)
			}
			o.Ns = append(o.Ns, v)
		}
		if scen != "idle" {
			return nil, errors.New("-ns is only for idle")
		}
		o.N = o.Ns[len(o.Ns)-1]
	}
	lim := 250 * worker.MaxPerWorker
	switch {
	case o.N < 1 || o.N > lim:
		return nil, fmt.Errorf("-n must be in [1, %d], got %d", lim, o.N)
	case o.Repeat < 1 || o.Repeat > 10:
		return nil, fmt.Errorf("-repeat must be in [1, 10], got %d", o.Repeat)
	case o.Rate < 0:
		return nil, fmt.Errorf("-rate must be >= 0, got %v", o.Rate)
	case o.PerWorker < 1 || o.PerWorker > worker.MaxPerWorker:
		return nil, fmt.Errorf("-per-worker must be in [1, %d], got %d", worker.MaxPerWorker, o.PerWorker)
	case o.Duration <= 0 || o.Duration > time.Hour:
		return nil, fmt.Errorf("-duration must be in (0, 1h], got %v", o.Duration)
	case o.Timeout <= 0 || o.Timeout > 2*time.Hour:
		return nil, fmt.Errorf("-timeout must be in (0, 2h], got %v", o.Timeout)
	case o.Engine != "epoll" && o.Engine != "netpoll":
		return nil, fmt.Errorf("-engine must be epoll or netpoll, got %q", o.Engine)
	case o.Publishes < 1 || o.Publishes > 1_000_000:
		return nil, fmt.Errorf("-publishes must be in [1, 1000000], got %d", o.Publishes)
	case o.PubRate < 0:
		return nil, fmt.Errorf("-pub-rate must be >= 0, got %v", o.PubRate)
	case o.Size < 32 || o.Size > 1<<20:
		return nil, fmt.Errorf("-size must be in [32, 1MiB] (the data carries a send time), got %d", o.Size)
	case o.Channels < 1:
		return nil, fmt.Errorf("-channels must be >= 1, got %d", o.Channels)
	case o.Publishers < 1:
		return nil, fmt.Errorf("-publishers must be >= 1, got %d", o.Publishers)
	case o.Fraction <= 0 || o.Fraction > 1:
		return nil, fmt.Errorf("-fraction must be in (0, 1], got %v", o.Fraction)
	case o.StormM < 0 || o.StormM > lim:
		return nil, fmt.Errorf("-m must be in [0, %d], got %d", lim, o.StormM)
	case o.StormM > 0 && scen != "storm":
		return nil, errors.New("-m is only for storm")
	case o.StormM > 0 && o.N+o.StormM+1 > lim:
		return nil, fmt.Errorf("-n + -m must be < %d, got %d", lim, o.N+o.StormM)
	case o.StormM > 0 && !(o.PubRate > 0):
		return nil, errors.New("-pub-rate must be > 0 for storm -m (a steady stream)")
	}
	switch {
	case o.JWTSecretFile != "" && !o.Tokens:
		return nil, errors.New("-jwt-secret-file needs -tokens")
	case o.Tokens && scen == "floor":
		return nil, errors.New("-tokens: floor opens plain TCP sockets, no WebSocket")
	case o.Tokens && o.URL != "" && o.JWTSecretFile == "":
		return nil, errors.New("-tokens with -url needs -jwt-secret-file (the running server's secret)")
	case o.Tokens && o.Profile != "":
		return nil, errors.New("-profile records the figures without tokens (plan adds the measured token cost with its -tokens)")
	}
	if o.Compress && scen != "broadcast" && scen != "idle" {
		return nil, errors.New("-compress is only for broadcast and idle")
	}
	if scen != "floor" && scen != "cluster" {
		if o.Spawn == (o.URL != "") {
			return nil, errors.New("give exactly one of -spawn or -url")
		}
		if o.URL != "" {
			if _, err := Attach(o.URL, -1, "x"); err != nil {
				return nil, err
			}
		}
	}
	return o, nil
}

// ChartFromJSON redraws the chart of a result saved with -out.
func ChartFromJSON(in, out string) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	return WriteChart(out, &r)
}
