// Package plan is Starling's capacity planner: `starling plan` turns the
// figures a bench run measured (the profile JSON, read and written here) and
// what an operator knows about a host (RAM, LimitNOFILE, conntrack, client
// addresses) into how many connections fit, which limit binds first, and the
// kernel settings that count needs (the formulas of scripts/sysctl.sh).
//
// It sits apart from bench/ because planning is arithmetic on a file: it
// runs on an operator's laptop (macOS included) against a profile measured
// elsewhere, while the bench needs Linux, epoll and /proc. It must never
// read /proc, open a socket, start a process, or use a per-connection figure
// that is not in the profile (a plan is only as true as what was measured),
// except the gate's constants (gate.go), each measured by a run it names.
package plan
