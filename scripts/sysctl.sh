#!/usr/bin/env bash
# sysctl.sh - check or apply the Linux settings a Starling node needs for a
# target number of concurrent WebSocket connections.
#
#   scripts/sysctl.sh check [--conns 150000]          # report, exit 1 if something blocks
#   scripts/sysctl.sh apply --conns 150000 [--persist] # raise what is too low (root)
#
# Options:
#   --conns N        target concurrent connections (> 0); check defaults to
#                    150000, the `starling serve -max-conns` default; apply
#                    requires it (it changes the host)
#   --conn-bytes B   memory per connection in bytes (kernel + user space);
#                    default: total_bytes_per_conn from bench/profile.json
#                    (written by `starling bench idle -profile`), else 16384
#   --sources K      load-generator mode: this host dials the connections
#                    from K source addresses, so the local port range must
#                    hold N/K ports (default 0: a server, which binds no local
#                    port per inbound connection)
#   --persist        with apply: also write /etc/sysctl.d/60-starling.conf
#   --dry-run        with apply: print the sysctl commands, change nothing
#
# Output: one line per key: name, current, required, status (OK, LOW, INFO,
# ABSENT) and why. The last line is "result: ok" or "result: blocked by: k1 k2".
# Exit status: 0 nothing blocks, 1 something blocks, 2 usage error.
# apply only ever raises values; it never lowers one that is already larger.
set -u

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2; exit 2; }
die() { echo "sysctl.sh: $*" >&2; exit 2; }

mode="${1:-}"
[[ "$mode" == "check" || "$mode" == "apply" ]] || { [[ -n "$mode" ]] && echo "sysctl.sh: unknown mode \"$mode\" (want check or apply)" >&2; usage; }
shift
conns="" conn_bytes="" sources=0 persist=0 dry=0
while [[ $# -gt 0 ]]; do
	case "$1" in
	--conns) conns="${2:-}"; shift 2 || die "--conns needs a value" ;;
	--conns=*) conns="${1#*=}"; shift ;;
	--conn-bytes) conn_bytes="${2:-}"; shift 2 || die "--conn-bytes needs a value" ;;
	--conn-bytes=*) conn_bytes="${1#*=}"; shift ;;
	--sources) sources="${2:-}"; shift 2 || die "--sources needs a value" ;;
	--sources=*) sources="${1#*=}"; shift ;;
	--persist) persist=1; shift ;;
	--dry-run) dry=1; shift ;;
	-h|--help) usage ;;
	*) die "unknown option \"$1\"" ;;
	esac
done
isnum() { [[ "$1" =~ ^[0-9]+$ ]]; }
# Keep in step with server.Defaults().MaxConns, the -max-conns default
# (cmd/starling's TestSysctlDefaultIsMaxConns checks).
default_conns=150000
if [[ -z "$conns" && "$mode" == check ]]; then
	conns=$default_conns
	echo "sysctl.sh: no --conns: checking for $conns, the starling serve -max-conns default" >&2
fi
isnum "$conns" && ((conns > 0)) || die "--conns must be a positive integer, got \"$conns\""
isnum "$sources" || die "--sources must be a non-negative integer, got \"$sources\""
if [[ -z "$conn_bytes" ]]; then
	prof="$(cd "$(dirname "$0")/.." && pwd)/bench/profile.json"
	conn_bytes=16384
	conn_bytes_from="default 16384 B (no bench/profile.json)"
	if [[ -r "$prof" ]]; then
		v=$(grep -o '"total_bytes_per_conn"[[:space:]]*:[[:space:]]*[0-9.]*' "$prof" | head -1 | sed 's/.*:[[:space:]]*//; s/\..*//')
		if isnum "${v:-x}" && ((v > 0)); then conn_bytes=$v; conn_bytes_from="bench/profile.json"; fi
	fi
else
	isnum "$conn_bytes" && ((conn_bytes > 0)) || die "--conn-bytes must be a positive integer, got \"$conn_bytes\""
	conn_bytes_from="--conn-bytes"
fi

max() { if (($1 > $2)); then echo "$1"; else echo "$2"; fi; }
min() { if (($1 < $2)); then echo "$1"; else echo "$2"; fi; }
rd() { local f="/proc/sys/${1//.//}"; [[ -r "$f" ]] && tr -s ' \t' ' ' <"$f" || echo ""; }

blocked=()
declare -A want   # key -> value apply would write
report() { # key current required status why
	printf '%-30s current=%-26s required=%-26s %-6s # %s\n' "$1" "$2" "$3" "$4" "$5"
	[[ "$4" == LOW ]] && blocked+=("$1")
}
# atleast KEY REQUIRED WHY: a single-integer key that must be >= REQUIRED.
atleast() {
	local cur; cur=$(rd "$1")
	if [[ -z "$cur" ]]; then report "$1" "absent" ">= $2" ABSENT "$3 (not present in this kernel/namespace)"; return; fi
	if ((cur >= $2)); then report "$1" "$cur" ">= $2" OK "$3"; else report "$1" "$cur" ">= $2" LOW "$3"; want[$1]=$2; fi
}

# fs.file-max: system-wide open files. Every connection is one socket file;
# leave 64Ki for everything else running on the host.
atleast fs.file-max $((conns + 65536)) "one file per socket + 64Ki for the rest of the host"

# fs.nr_open: ceiling for any process's RLIMIT_NOFILE. Starling holds every
# connection in one process, so LimitNOFILE (systemd unit) needs N + a margin
# for listeners, epoll instances and log files, and nr_open must allow it.
atleast fs.nr_open $((conns + 4096)) "one process holds all sockets; LimitNOFILE <= nr_open"

# net.core.somaxconn: caps every listen backlog. Starling asks for 4096; after
# a restart or a network blip ~10% of clients may reconnect in the same
# second, and the accept queue must absorb them instead of dropping SYNs.
atleast net.core.somaxconn "$(max 4096 "$(min $((conns / 10)) 65535)")" "accept queue for a reconnect storm (~10% of N)"

# net.ipv4.tcp_max_syn_backlog: half-open connections waiting for the final
# ACK during the same storm (syncookies take over past it, losing options).
atleast net.ipv4.tcp_max_syn_backlog "$(max 1024 "$(min $((conns / 10)) 65535)")" "half-open queue for a reconnect storm"

# net.ipv4.ip_local_port_range: only matters for the side that dials. A
# server binds no local port per inbound connection; a load generator needs
# N/K ports per source address.
pr=$(rd net.ipv4.ip_local_port_range)
read -r plo phi <<<"$pr"
width=$((phi - plo + 1))
if ((sources == 0)); then
	report net.ipv4.ip_local_port_range "$pr" "any (server)" INFO "inbound connections use no local port; dialers need N/sources ports per source IP"
else
	need=$(((conns + sources - 1) / sources))
	if ((width >= need)); then
		report net.ipv4.ip_local_port_range "$pr" "width >= $need" OK "$conns dials from $sources source addresses"
	else
		report net.ipv4.ip_local_port_range "$pr" "width >= $need" LOW "$conns dials from $sources source addresses"
		want[net.ipv4.ip_local_port_range]="1024 65535"
		((need > 64512)) && echo "note: even 1024-65535 is too narrow; use more --sources" >&2
	fi
fi

# tcp_rmem / tcp_wmem minimums: under memory pressure the kernel shrinks each
# socket's buffers towards these; the tcp_mem budget below assumes 4 KiB each.
for k in net.ipv4.tcp_rmem net.ipv4.tcp_wmem; do
	cur=$(rd $k)
	read -r mn df mx <<<"$cur"
	if ((mn <= 4096)); then
		report $k "$cur" "min <= 4096" OK "per-socket floor under pressure; tcp_mem math assumes 4 KiB"
	else
		report $k "$cur" "min <= 4096" LOW "per-socket floor under pressure; tcp_mem math assumes 4 KiB"
		want[$k]="4096 $df $mx"
	fi
done

# net.ipv4.tcp_mem (pages: min pressure max): all TCP buffer memory. Past
# "max" sends fail. With every socket squeezed to its rmem+wmem minimums
# (8 KiB = 2 pages), N sockets need 2N pages; pressure should begin no
# earlier than one page per socket.
cur=$(rd net.ipv4.tcp_mem)
read -r tmin tpress tmax <<<"$cur"
npress=$(max "$tpress" "$conns"); nmax=$(max "$tmax" $((2 * conns)))
if ((tpress >= conns && tmax >= 2 * conns)); then
	report net.ipv4.tcp_mem "$cur" "pressure>=$conns max>=$((2 * conns))" OK "2 pages (rmem+wmem minimums) per socket"
else
	report net.ipv4.tcp_mem "$cur" "pressure>=$conns max>=$((2 * conns))" LOW "2 pages (rmem+wmem minimums) per socket"
	want[net.ipv4.tcp_mem]="$tmin $npress $nmax"
fi

# net.core.netdev_max_backlog: packets queued per CPU before the stack
# processes them (loopback and RPS go through it). A fan-out pass writes one
# packet per subscriber in a burst; keep room for ~1/32 of N in flight.
atleast net.core.netdev_max_backlog "$(max 1000 "$(min $((conns / 32)) 65536)")" "per-CPU packet queue during a fan-out burst"

# net.netfilter.nf_conntrack_max: with conntrack loaded every connection (and
# each TIME_WAIT after churn) takes an entry; a full table drops new SYNs.
if [[ -r /proc/sys/net/netfilter/nf_conntrack_max ]]; then
	atleast net.netfilter.nf_conntrack_max $((conns + conns / 4)) "one entry per connection + 25% for churn/TIME_WAIT"
else
	report net.netfilter.nf_conntrack_max "absent" ">= $((conns + conns / 4)) if loaded" ABSENT "nf_conntrack not loaded: not limiting"
fi

# Memory: not a sysctl, but the limit that binds first on most hosts. Keep a
# quarter of RAM for the kernel's page cache, Go's GC headroom and the rest.
memkb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
needkb=$(((conns * conn_bytes / 1024) * 4 / 3))
if ((memkb >= needkb)); then
	report memory "${memkb}kB" ">= ${needkb}kB" OK "$conn_bytes B/conn ($conn_bytes_from) / 0.75"
else
	report memory "${memkb}kB" ">= ${needkb}kB" LOW "$conn_bytes B/conn ($conn_bytes_from) / 0.75; add RAM (apply cannot fix this)"
fi

# The hard RLIMIT_NOFILE of this shell: informational; the service gets its
# own from LimitNOFILE in scripts/starling.service.
hn=$(ulimit -Hn)
report "nofile (this shell, hard)" "$hn" ">= $((conns + 4096))" INFO "set LimitNOFILE in the systemd unit, not here"

if [[ "$mode" == apply ]]; then
	[[ $dry -eq 1 || $(id -u) -eq 0 ]] || die "apply needs root (or use --dry-run)"
	conf=""
	for k in "${!want[@]}"; do
		if [[ $dry -eq 1 ]]; then echo "would run: sysctl -w $k=\"${want[$k]}\""; else sysctl -q -w "$k=${want[$k]}" || echo "sysctl.sh: could not set $k" >&2; fi
		conf+="$k = ${want[$k]}"$'\n'
	done
	if [[ $persist -eq 1 && -n "$conf" && $dry -eq 0 ]]; then
		printf '# Written by starling scripts/sysctl.sh apply --conns %s\n%s' "$conns" "$conf" >/etc/sysctl.d/60-starling.conf
		echo "wrote /etc/sysctl.d/60-starling.conf"
	fi
	if [[ $dry -eq 0 ]]; then
		echo "--- after apply ---"
		exec "$0" check --conns "$conns" --conn-bytes "$conn_bytes" --sources "$sources"
	fi
fi

if ((${#blocked[@]} == 0)); then
	echo "result: ok"
	exit 0
fi
echo "result: blocked by: ${blocked[*]}"
exit 1
