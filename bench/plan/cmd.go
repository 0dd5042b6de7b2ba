package plan

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// DefaultProfile is where bench idle -profile writes and plan reads.
const DefaultProfile = "bench/profile.json"

// ParseArgs reads `starling plan` flags. Every error names its flag.
func ParseArgs(args []string, stderr io.Writer) (Input, string, error) {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ram := fs.String("ram", "", "RAM of the target host, e.g. 16GiB (required)")
	headroom := fs.Float64("headroom", 0.25, "fraction of RAM kept for the OS, page cache and GC headroom [0, 0.9]")
	ping := fs.Duration("ping-interval", 25*time.Second, "server heartbeat period (>= 1s)")
	nofile := fs.Int64("nofile", 1<<20, "LimitNOFILE the service gets")
	conntrack := fs.Int64("conntrack", 0, "nf_conntrack_max on the target; 0 if the module is not loaded")
	clientIPs := fs.Int64("client-ips", 0, "distinct client source addresses (0: many, e.g. internet clients)")
	ports := fs.String("port-range", "32768-60999", "ip_local_port_range on the dialling side, LO-HI")
	busy := fs.Float64("busy", 0.01, "fraction of connections assumed to have a full outbound queue [0, 1]")
	maxOut := fs.String("max-outbound", "256KiB", "per-connection outbound queue bound")
	maxMsg := fs.String("max-message", "64KiB", "largest reassembled message (server -max-message)")
	rate := fs.Float64("msg-rate", 0, "peak deliveries per second, for the CPU estimate (0: skip)")
	sndbuf := fs.String("sndbuf", "64KiB", "server -sndbuf (0: the kernel's autotuning, planned at tcp_wmem's 4 MiB max)")
	subs := fs.Float64("subs", 1, "subscriptions per connection, on average")
	own := fs.Float64("own-channels", 1, "fraction of subscriptions on channels of their own (per-user channels) [0, 1]")
	histMem := fs.String("history-memory", "128MiB", "server -history-memory")
	fanout := fs.String("max-fanout-queue", "256MiB", "server -max-fanout-queue")
	hsMax := fs.Int64("max-handshakes", 10000, "server -max-handshakes")
	compress := fs.Bool("compress", true, "server -compress: count its pooled compressors and inflaters (fixed, not per connection)")
	cores := fs.Int64("cores", 0, "GOMAXPROCS of the target, which sizes the shards and event loops (0: the profile machine's CPUs)")
	tokens := fs.Bool("tokens", false, "connections authenticate with tokens (adds the measured grant cost, plan.TokenBytes)")
	ownCh := fs.Float64("tokens-own-ch", 0, "with -tokens: fraction of connections whose ch claim is their own, not shared [0, 1]")
	perIP := fs.Bool("per-ip", false, "the server runs with -max-conns-per-ip (the per-address table: one entry per client address)")
	cluster := fs.Bool("nats", false, "a cluster node (serve -nats): add the bus's fixed bounds")
	busInfl := fs.Int64("nats-max-inflight", 4096, "server -nats-max-inflight")
	busPend := fs.String("nats-pending-bytes", "64MiB", "server -nats-pending-bytes")
	busFetch := fs.Int64("nats-max-fetches", 16, "server -nats-max-fetches")
	busFQ := fs.Int64("nats-fetch-queue", 4096, "server -nats-fetch-queue")
	maxReplay := fs.Int64("max-replay", 64, "server -max-replay")
	profile := fs.String("profile", DefaultProfile, "profile JSON written by `starling bench idle -profile`")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: starling plan -ram SIZE [flags]\n\nHow many connections fit on a host, from figures measured by `starling bench idle`.\n\n")
		fs.PrintDefaults()
	}
	var in Input
	if err := fs.Parse(args); err != nil {
		return in, "", err
	}
	if fs.NArg() > 0 {
		return in, "", fmt.Errorf("plan: unexpected argument %q", fs.Arg(0))
	}
	var err error
	if *ram == "" {
		return in, "", errors.New("-ram is required (e.g. -ram 16GiB)")
	}
	if in.RAM, err = ParseBytes(*ram); err != nil || in.RAM < 64<<20 {
		if err == nil {
			err = fmt.Errorf("%q is below 64MiB", *ram)
		}
		return in, "", fmt.Errorf("-ram: %w", err)
	}
	if *headroom < 0 || *headroom > 0.9 {
		return in, "", fmt.Errorf("-headroom must be in [0, 0.9], got %v", *headroom)
	}
	in.Headroom = *headroom
	if *ping < time.Second {
		return in, "", fmt.Errorf("-ping-interval must be >= 1s, got %v", *ping)
	}
	in.PingInterval = *ping
	if *nofile < 1024 {
		return in, "", fmt.Errorf("-nofile must be >= 1024, got %d", *nofile)
	}
	in.NoFile = *nofile
	if *conntrack < 0 {
		return in, "", fmt.Errorf("-conntrack must be >= 0, got %d", *conntrack)
	}
	in.Conntrack = *conntrack
	if *clientIPs < 0 {
		return in, "", fmt.Errorf("-client-ips must be >= 0, got %d", *clientIPs)
	}
	in.ClientIPs = *clientIPs
	lo, hi, ok := strings.Cut(*ports, "-")
	a, e1 := strconv.ParseInt(strings.TrimSpace(lo), 10, 64)
	b, e2 := strconv.ParseInt(strings.TrimSpace(hi), 10, 64)
	if !ok || e1 != nil || e2 != nil || a < 1 || b > 65535 || a > b {
		return in, "", fmt.Errorf("-port-range must be LO-HI within 1-65535, got %q", *ports)
	}
	in.PortRange = [2]int64{a, b}
	if *busy < 0 || *busy > 1 {
		return in, "", fmt.Errorf("-busy must be in [0, 1], got %v", *busy)
	}
	in.BusyFrac = *busy
	if in.MaxOutbound, err = ParseBytes(*maxOut); err != nil {
		return in, "", fmt.Errorf("-max-outbound: %w", err)
	}
	if in.MaxMessage, err = ParseBytes(*maxMsg); err != nil {
		return in, "", fmt.Errorf("-max-message: %w", err)
	}
	if *rate < 0 {
		return in, "", fmt.Errorf("-msg-rate must be >= 0, got %v", *rate)
	}
	in.MsgRate = *rate
	if in.SendBuffer, err = ParseBytes(*sndbuf); err != nil {
		return in, "", fmt.Errorf("-sndbuf: %w", err)
	}
	if *subs < 0 || *subs > 65535 {
		return in, "", fmt.Errorf("-subs must be in [0, 65535], got %v", *subs)
	}
	if *own < 0 || *own > 1 {
		return in, "", fmt.Errorf("-own-channels must be in [0, 1], got %v", *own)
	}
	in.SubsPerConn, in.OwnChanFrac = *subs, *own
	if in.HistoryMemory, err = ParseBytes(*histMem); err != nil {
		return in, "", fmt.Errorf("-history-memory: %w", err)
	}
	if in.FanoutQueue, err = ParseBytes(*fanout); err != nil {
		return in, "", fmt.Errorf("-max-fanout-queue: %w", err)
	}
	if *hsMax < 0 {
		return in, "", fmt.Errorf("-max-handshakes must be >= 0, got %d", *hsMax)
	}
	in.MaxHandshakes = *hsMax
	if *cores < 0 || *cores > 4096 {
		return in, "", fmt.Errorf("-cores must be in [0, 4096] (0: the profile machine's), got %d", *cores)
	}
	in.Compress, in.Cores = *compress, *cores
	switch {
	case *ownCh < 0 || *ownCh > 1:
		return in, "", fmt.Errorf("-tokens-own-ch must be in [0, 1], got %v", *ownCh)
	case *ownCh > 0 && !*tokens:
		return in, "", errors.New("-tokens-own-ch needs -tokens")
	}
	in.Tokens, in.TokenOwnCh, in.PerIP = *tokens, *ownCh, *perIP
	in.Cluster = *cluster
	switch {
	case *busInfl < 0:
		return in, "", fmt.Errorf("-nats-max-inflight must be >= 0, got %d", *busInfl)
	case *busFetch < 0:
		return in, "", fmt.Errorf("-nats-max-fetches must be >= 0, got %d", *busFetch)
	case *busFQ < 0:
		return in, "", fmt.Errorf("-nats-fetch-queue must be >= 0, got %d", *busFQ)
	case *maxReplay < 0:
		return in, "", fmt.Errorf("-max-replay must be >= 0, got %d", *maxReplay)
	}
	in.BusInflight, in.BusFetches, in.BusFetchQ, in.MaxReplay = *busInfl, *busFetch, *busFQ, *maxReplay
	if in.BusPending, err = ParseBytes(*busPend); err != nil {
		return in, "", fmt.Errorf("-nats-pending-bytes: %w", err)
	}
	if *profile == "" {
		return in, "", errors.New("-profile must name a file")
	}
	return in, *profile, nil
}

// Main is `starling plan`: exit 0 on success, 2 on a usage error, 1 if
// the profile cannot be used.
func Main(args []string, stdout, stderr io.Writer) int {
	in, path, err := ParseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "starling plan: %v\n", err)
		return 2
	}
	p, err := LoadProfile(path)
	if err != nil {
		fmt.Fprintf(stderr, "starling plan: -profile: %v\n", err)
		return 1
	}
	if in.Cores == 0 {
		in.Cores = int64(p.Machine.CPUs)
	}
	r, err := Plan(in, p)
	if err != nil {
		fmt.Fprintf(stderr, "starling plan: %v\n", err)
		return 1
	}
	Write(stdout, in, p, path, r)
	return 0
}
