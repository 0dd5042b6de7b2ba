package plan

import (
	"bytes"
	"io"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/starling-ws/starling/frame"
)

func testProfile() *Profile {
	return &Profile{
		Schema: ProfileSchema, Date: "2026-11-23T10:00:00Z", Engine: "epoll", N: 10000,
		PerConn:              PerConn{KernelBytes: 3000, UserBytes: 2000, TotalBytes: 5000},
		PerDeliveryCPUMicros: 2.5, PerPingCPUMicros: 4, BroadcastN: 10000,
	}
}

func TestPlanFlagErrorsNameTheFlag(t *testing.T) {
	f := func(args []string, flagName string) {
		t.Helper()
		var errb bytes.Buffer
		_, _, err := ParseArgs(args, &errb)
		if err == nil {
			t.Fatalf("%v: no error", args)
		}
		if !strings.Contains(err.Error()+errb.String(), flagName) {
			t.Fatalf("%v: error %q does not name %s", args, err, flagName)
		}
	}
	f(nil, "-ram")
	f([]string{"-ram", "lots"}, "-ram")
	f([]string{"-ram", "16PB"}, "-ram")
	f([]string{"-ram", "1MiB"}, "-ram")
	f([]string{"-ram", "16GiB", "-ping-interval", "10ms"}, "-ping-interval")
	f([]string{"-ram", "16GiB", "-ping-interval", "soon"}, "ping-interval")
	f([]string{"-ram", "16GiB", "-headroom", "1.5"}, "-headroom")
	f([]string{"-ram", "16GiB", "-nofile", "10"}, "-nofile")
	f([]string{"-ram", "16GiB", "-conntrack", "-1"}, "-conntrack")
	f([]string{"-ram", "16GiB", "-client-ips", "-3"}, "-client-ips")
	f([]string{"-ram", "16GiB", "-port-range", "9-2"}, "-port-range")
	f([]string{"-ram", "16GiB", "-busy", "2"}, "-busy")
	f([]string{"-ram", "16GiB", "-max-outbound", "x"}, "-max-outbound")
	f([]string{"-ram", "16GiB", "-max-message", "-"}, "-max-message")
	f([]string{"-ram", "16GiB", "-msg-rate", "-1"}, "-msg-rate")
	f([]string{"-ram", "16GiB", "-profile", ""}, "-profile")
	f([]string{"-ram", "16GiB", "-bogus"}, "bogus")
	f([]string{"-ram", "16GiB", "-sndbuf", "x"}, "-sndbuf")
	f([]string{"-ram", "16GiB", "-subs", "-1"}, "-subs")
	f([]string{"-ram", "16GiB", "-own-channels", "2"}, "-own-channels")
	f([]string{"-ram", "16GiB", "-history-memory", "?"}, "-history-memory")
	f([]string{"-ram", "16GiB", "-max-fanout-queue", "?"}, "-max-fanout-queue")
	f([]string{"-ram", "16GiB", "-max-handshakes", "-1"}, "-max-handshakes")
	f([]string{"-ram", "16GiB", "-cores", "-1"}, "-cores")
	f([]string{"-ram", "16GiB", "-compress=maybe"}, "-compress")
	f([]string{"-ram", "16GiB", "-tokens", "-tokens-own-ch", "2"}, "-tokens-own-ch")
	f([]string{"-ram", "16GiB", "-tokens-own-ch", "0.5"}, "-tokens")
	f([]string{"-ram", "16GiB", "-nats-max-inflight", "-1"}, "-nats-max-inflight")
	f([]string{"-ram", "16GiB", "-nats-pending-bytes", "?"}, "-nats-pending-bytes")
	f([]string{"-ram", "16GiB", "-nats-max-fetches", "-1"}, "-nats-max-fetches")
	f([]string{"-ram", "16GiB", "-nats-fetch-queue", "-1"}, "-nats-fetch-queue")
	f([]string{"-ram", "16GiB", "-max-replay", "-1"}, "-max-replay")
}

// A cluster node's bus bounds come off the top with their formula.
func TestPlanClusterBounds(t *testing.T) {
	in, _, err := ParseArgs([]string{"-ram", "16GiB", "-nats", "-nats-max-inflight", "1000", "-nats-pending-bytes", "10MiB",
		"-nats-max-fetches", "4", "-nats-fetch-queue", "100", "-max-replay", "9", "-max-message", "1KiB"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := int64(1000*(1024+200) + 10<<20 + 4*10*1024 + 100*200)
	if got := in.BusBytes(); got != want {
		t.Fatalf("bus bytes %d, want %d", got, want)
	}
	alone, _, _ := ParseArgs([]string{"-ram", "16GiB"}, io.Discard)
	if alone.BusBytes() != 0 {
		t.Fatalf("a node alone: bus bytes %d", alone.BusBytes())
	}
	p := testProfile()
	r1, _ := Plan(in, p)
	r0, _ := Plan(alone, p)
	if r1.FixedBytes != r0.FixedBytes+float64(want) {
		t.Fatalf("fixed bounds %v do not include the bus's %d", r1.FixedBytes, want)
	}
}

func TestPlanMissingProfileNamesFlag(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main([]string{"-ram", "16GiB", "-profile", filepath.Join(t.TempDir(), "none.json")}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "-profile") {
		t.Fatalf("code %d, stderr %q", code, errb.String())
	}
}

// A known profile gives the answer computed here from its own figures.
func TestPlanKnownProfile(t *testing.T) {
	p := testProfile()
	path := filepath.Join(t.TempDir(), "p.json")
	if err := WriteProfile(path, p); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	args := []string{"-ram", "16GiB", "-ping-interval", "20s", "-busy", "0", "-profile", path, "-msg-rate", "100000"}
	if code := Main(args, &out, &errb); code != 0 {
		t.Fatalf("code %d: %s", code, errb.String())
	}
	in, _, _ := ParseArgs(args, &errb)
	r, err := Plan(in, p)
	if err != nil {
		t.Fatal(err)
	}
	// The fixed bounds at their defaults come off the top: history 128 MiB,
	// fan-out queue 256 MiB, 10,000 handshakes x 8 KiB, and -compress's
	// pooled state for the profile machine's cores (none recorded: 1, so
	// one shard and one loop, plus one parked per P of each).
	fixed := float64(128<<20 + 256<<20 + 10000*8<<10 + 2*frame.DeflaterBytes + 2*frame.InflaterBytes)
	if r.FixedBytes != fixed {
		t.Fatalf("fixed bounds %v, want %v", r.FixedBytes, fixed)
	}
	// 6 cores: 8 shards; off: nothing.
	in6 := in
	in6.Cores = 6
	if r6, _ := Plan(in6, p); r6.CompressBytes != float64((8+6)*frame.DeflaterBytes+(6+6)*frame.InflaterBytes) {
		t.Fatalf("6 cores: compression %v", r6.CompressBytes)
	}
	in6.Compress = false
	if r6, _ := Plan(in6, p); r6.CompressBytes != 0 || r6.FixedBytes != fixed-2*frame.DeflaterBytes-2*frame.InflaterBytes {
		t.Fatalf("-compress=false: compression %v, fixed %v", r6.CompressBytes, r6.FixedBytes)
	}
	wantMem := int64((float64(16<<30)*0.75 - fixed) / p.PerConn.TotalBytes)
	wantFDs := int64(1<<20) - reservedFDs
	want, binding := wantMem, "memory"
	if wantFDs < wantMem {
		want, binding = wantFDs, "file descriptors"
	}
	if r.Fit != want || r.Binding != binding {
		t.Fatalf("fit %d (%s), want %d (%s)", r.Fit, r.Binding, want, binding)
	}
	if got, w := r.PingsPerSec, float64(want)/20; math.Abs(got-w) > 1e-6 {
		t.Fatalf("pings/s %v, want %v", got, w)
	}
	if got, w := r.MsgCores, 100000*p.PerDeliveryCPUMicros/1e6; math.Abs(got-w) > 1e-9 {
		t.Fatalf("msg cores %v, want %v", got, w)
	}
	s := out.String()
	for _, w := range []string{"fits: " + FmtCount(want), "binding limit: " + binding, "fs.nr_open", "nf_conntrack_max", "pings/s"} {
		if !strings.Contains(s, w) {
			t.Errorf("output lacks %q:\n%s", w, s)
		}
	}

	// With a small RAM, fds no longer matter and memory binds; with a
	// small conntrack table, conntrack binds.
	in.RAM = 1 << 30
	r, _ = Plan(in, p)
	ram, per := float64(1<<30), 5000.0
	if w := int64((ram*0.75 - fixed) / per); r.Fit != w || r.Binding != "memory" {
		t.Fatalf("1GiB: fit %d (%s), want %d memory", r.Fit, r.Binding, w)
	}
	in.Conntrack = 65536
	r, _ = Plan(in, p)
	if r.Fit != 65536*4/5 || r.Binding != "conntrack" {
		t.Fatalf("conntrack: fit %d (%s)", r.Fit, r.Binding)
	}
	in.Conntrack, in.ClientIPs, in.PortRange = 0, 2, [2]int64{1024, 2047}
	r, _ = Plan(in, p)
	if r.Fit != 2048 || r.Binding != "ports" {
		t.Fatalf("ports: fit %d (%s)", r.Fit, r.Binding)
	}
	// Busy connections cost their queue bound, reassembly buffer and the
	// kernel send buffer -sndbuf allows (doubled by the kernel).
	in.ClientIPs, in.BusyFrac = 0, 0.5
	r, _ = Plan(in, p)
	avg := 5000*0.5 + (5000+float64(in.MaxOutbound+in.MaxMessage)+2*64<<10)*0.5
	if w := int64((float64(1<<30)*0.75 - fixed) / avg); r.Fit != w {
		t.Fatalf("busy: fit %d, want %d", r.Fit, w)
	}
	in.SendBuffer = 0 // the kernel's autotuning: planned at tcp_wmem's 4 MiB
	if r, _ = Plan(in, p); r.SendBuf != 4<<20 {
		t.Fatalf("send buffer with -sndbuf 0: %v", r.SendBuf)
	}
	// Subscriptions: measured costs x the mix of shared and own channels.
	p.Membership = &Membership{SharedSubBytes: 24, OwnSubBytes: 128}
	in.SubsPerConn, in.OwnChanFrac = 10, 0.5
	if r, _ = Plan(in, p); r.SubBytes != 10*(0.5*128+0.5*24) || r.IdleBytes != 5000+r.SubBytes {
		t.Fatalf("subscriptions %v, idle %v", r.SubBytes, r.IdleBytes)
	}
	p.Membership = nil
	_ = time.Second

	// Runs at the profile's N whose all-caches slab delta is larger than
	// the socket-cache figure raise the kernel part the plan uses.
	p.Points = []IdlePoint{{N: 10000, SlabDelta: 2 * 10000 * 3500}, {N: 10000, SlabDelta: 2 * 10000 * 3700}, {N: 10000, SlabDelta: 2 * 10000 * 3600}, {N: 10, SlabDelta: 1 << 30}}
	in = Input{RAM: 1 << 30, PingInterval: 20 * time.Second, NoFile: 1 << 20}
	r, _ = Plan(in, p)
	if r.KernelBytes != 3600 || r.IdleBytes != 2000+3600 {
		t.Fatalf("kernel %v idle %v, want 3600 and 5600", r.KernelBytes, r.IdleBytes)
	}
}

func TestParseBytes(t *testing.T) {
	f := func(in string, want int64, ok bool) {
		t.Helper()
		got, err := ParseBytes(in)
		if (err == nil) != ok || (ok && got != want) {
			t.Fatalf("ParseBytes(%q) = %d, %v; want %d ok=%v", in, got, err, want, ok)
		}
	}
	f("16GiB", 16<<30, true)
	f("16G", 16<<30, true)
	f("512MiB", 512<<20, true)
	f("1.5k", 1536, true)
	f("65536", 65536, true)
	f("GiB", 0, false)
	f("12XB", 0, false)
	f("", 0, false)
}

// The gate's costs join the plan only when the operator says they apply:
// tokens per connection (and a permission set of its own for a fraction),
// the per-address table per connection when clients are many, or as a
// fixed sum when their addresses are known.
func TestPlanGate(t *testing.T) {
	base := Input{RAM: 16 << 30, Headroom: 0.25, PingInterval: 25 * time.Second, NoFile: 1 << 40, PortRange: [2]int64{32768, 60999},
		MaxOutbound: 256 << 10, MaxMessage: 64 << 10} // memory binds
	plain, err := Plan(base, testProfile())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name         string
		mod          func(*Input)
		perConn, fix float64
	}{
		{"tokens", func(in *Input) { in.Tokens = true }, TokenBytes, 0},
		{"tokens, half own ch", func(in *Input) { in.Tokens, in.TokenOwnCh = true, 0.5 }, TokenBytes + PermSetBytes/2, 0},
		{"per-ip, many clients", func(in *Input) { in.PerIP = true }, PerIPBytes, 0},
		{"per-ip, 1000 clients", func(in *Input) { in.PerIP, in.ClientIPs = true, 1000 }, 0, 1000 * PerIPBytes},
	}
	for _, c := range cases {
		in := base
		c.mod(&in)
		r, err := Plan(in, testProfile())
		if err != nil {
			t.Fatal(err)
		}
		if d := r.IdleBytes - plain.IdleBytes; d != c.perConn || r.GateBytes != c.perConn {
			t.Errorf("%s: idle grew by %v (gate %v), want %v", c.name, d, r.GateBytes, c.perConn)
		}
		if d := r.FixedBytes - plain.FixedBytes; d != c.fix {
			t.Errorf("%s: fixed grew by %v, want %v", c.name, d, c.fix)
		}
		if c.perConn > 0 && r.Fit >= plain.Fit {
			t.Errorf("%s: fits %d, not fewer than %d without the gate", c.name, r.Fit, plain.Fit)
		}
		var b bytes.Buffer
		Write(&b, in, testProfile(), "p.json", r)
		if !strings.Contains(b.String(), "gate:") {
			t.Errorf("%s: the plan does not show the gate's share:\n%s", c.name, b.String())
		}
	}
}
