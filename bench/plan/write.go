package plan

import (
	"fmt"
	"io"
	"strings"
)

// Write prints r for a person.
func Write(w io.Writer, in Input, p *Profile, path string, r Result) {
	fmt.Fprintf(w, "profile: %s (engine %s, measured at N=%d on %s, commit %s; %d CPUs, %s RAM, kernel %s)\n",
		path, p.Engine, p.N, p.Date, p.GitCommit, p.Machine.CPUs, FmtBytes(float64(p.Machine.MemTotal)), p.Machine.Kernel)
	fmt.Fprintf(w, "per connection: idle %s (kernel %s + user %s + %.1f subscriptions %s + gate %s); busy %s (+ queue bound %s + reassembly %s + kernel send buffer %s); planned at %.1f%% busy: %s\n",
		FmtBytes(r.IdleBytes), FmtBytes(r.KernelBytes), FmtBytes(p.PerConn.UserBytes), in.SubsPerConn, FmtBytes(r.SubBytes), FmtBytes(r.GateBytes), FmtBytes(r.BusyBytes),
		FmtBytes(float64(in.MaxOutbound)), FmtBytes(float64(in.MaxMessage)), FmtBytes(r.SendBuf), in.BusyFrac*100, FmtBytes(r.AvgBytes))
	fmt.Fprintf(w, "fixed bounds: %s = history %s + fan-out queue %s + %d handshakes x 8 KiB + compression %s",
		FmtBytes(r.FixedBytes), FmtBytes(float64(in.HistoryMemory)), FmtBytes(float64(in.FanoutQueue)), in.MaxHandshakes, FmtBytes(r.CompressBytes))
	if in.Compress {
		fmt.Fprintf(w, " (pooled compressors and inflaters for %d cores)", max(in.Cores, 1))
	}
	if in.Cluster {
		fmt.Fprintf(w, " + cluster bus %s (%d publishes in flight x (%s + 200 B) + live-feed buffer %s + %d fetches x %d x %s + %d queued resumes x 200 B)",
			FmtBytes(float64(in.BusBytes())), in.BusInflight, FmtBytes(float64(in.MaxMessage)), FmtBytes(float64(in.BusPending)),
			in.BusFetches, in.MaxReplay+1, FmtBytes(float64(in.MaxMessage)), in.BusFetchQ)
	}
	if in.PerIP && in.ClientIPs > 0 {
		fmt.Fprintf(w, " + %d client addresses x %d B (per-address table)", in.ClientIPs, PerIPBytes)
	}
	fmt.Fprintln(w)
	if in.Tokens || in.PerIP {
		var parts []string
		if in.Tokens {
			parts = append(parts, fmt.Sprintf("tokens %d B + %.0f%% with a ch claim of their own x %d B", TokenBytes, in.TokenOwnCh*100, PermSetBytes))
		}
		if in.PerIP && in.ClientIPs == 0 {
			parts = append(parts, fmt.Sprintf("per-address table %d B (one client address per connection at worst)", PerIPBytes))
		}
		fmt.Fprintf(w, "gate: %s per connection (measured constants, bench/plan/gate.go): %s\n", FmtBytes(r.GateBytes), strings.Join(parts, "; "))
	}
	if p.Membership == nil {
		fmt.Fprintf(w, "subscriptions: not counted (the profile has no membership figures)\n")
	}
	fmt.Fprintf(w, "\nlimits (binding first):\n")
	for _, l := range r.Limits {
		m := "not limiting"
		if l.Max != Unlimited {
			m = FmtCount(l.Max)
		}
		fmt.Fprintf(w, "  %-17s %14s  %s\n", l.Name, m, l.Reason)
	}
	fmt.Fprintf(w, "\nfits: %s connections on %s RAM; binding limit: %s\n", FmtCount(r.Fit), FmtBytes(float64(in.RAM)), r.Binding)
	fmt.Fprintf(w, "\nsysctl for %s connections (apply with scripts/sysctl.sh apply --conns %d):\n", FmtCount(r.Fit), r.Fit)
	for _, s := range r.Sysctl {
		fmt.Fprintf(w, "  %-31s %-34s # %s\n", s.Key, s.Value, s.Why)
	}
	fmt.Fprintf(w, "  LimitNOFILE                     %-34d # systemd unit (scripts/starling.service)\n", r.Fit+reservedFDs)
	fmt.Fprintf(w, "\nheartbeat at -ping-interval %v: %.0f pings/s, ~%s/s on the wire (both ways)", in.PingInterval, r.PingsPerSec, FmtBytes(r.PingBytesPS))
	if r.PingCores >= 0 {
		fmt.Fprintf(w, ", ~%.3f CPU cores (%.2f us per ping+pong measured)\n", r.PingCores, p.PerPingCPUMicros)
	} else {
		fmt.Fprintf(w, "; CPU unknown (profile has no per_ping_cpu_us)\n")
	}
	if in.MsgRate > 0 {
		if r.MsgCores >= 0 {
			fmt.Fprintf(w, "deliveries at %.0f/s: ~%.2f CPU cores (%.2f us per delivery measured at N=%d)\n", in.MsgRate, r.MsgCores, p.PerDeliveryCPUMicros, p.BroadcastN)
		} else {
			fmt.Fprintf(w, "deliveries at %.0f/s: CPU unknown (profile has no per_delivery_cpu_us; run bench broadcast -profile)\n", in.MsgRate)
		}
	}
}
