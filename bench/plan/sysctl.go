package plan

import "fmt"

// SysctlReq is one kernel setting the fitted count requires (the same
// formulas as scripts/sysctl.sh).
type SysctlReq struct{ Key, Value, Why string }

// reservedFDs are descriptors the server needs besides its connections.
const reservedFDs = 4096

// SysctlFor mirrors scripts/sysctl.sh's formulas (see the comments there for
// why each value is what it is).
func SysctlFor(n int64) []SysctlReq {
	clamp := func(v, lo, hi int64) int64 { return max(lo, min(v, hi)) }
	return []SysctlReq{
		{"fs.file-max", fmt.Sprint(n + 65536), "one file per socket + 64Ki for the rest of the host"},
		{"fs.nr_open", fmt.Sprint(n + reservedFDs), "LimitNOFILE may not exceed it"},
		{"net.core.somaxconn", fmt.Sprint(clamp(n/10, 4096, 65535)), "accept queue for a reconnect storm (~10% of N)"},
		{"net.ipv4.tcp_max_syn_backlog", fmt.Sprint(clamp(n/10, 1024, 65535)), "half-open queue for the same storm"},
		{"net.ipv4.tcp_mem", fmt.Sprintf("pressure >= %d, max >= %d pages", n, 2*n), "each socket squeezed to 4 KiB rmem + 4 KiB wmem"},
		{"net.ipv4.tcp_rmem / tcp_wmem", "min <= 4096", "the floor the tcp_mem budget assumes"},
		{"net.core.netdev_max_backlog", fmt.Sprint(clamp(n/32, 1000, 65536)), "per-CPU packet queue during a fan-out burst"},
		{"net.netfilter.nf_conntrack_max", fmt.Sprintf("%d (if loaded)", n+n/4), "one entry per connection + 25% churn"},
	}
}
