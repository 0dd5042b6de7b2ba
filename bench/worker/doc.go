// Package worker is how the bench spreads its client sockets over several
// processes: the parent re-executes its own binary once per worker (one
// process may hold at most ~19,000 sockets here, RLIMIT_NOFILE being
// 20,000), and parent and child talk over the child's stdin and stdout, one
// JSON object per line: a Cmd, answered by exactly one Event. It owns those
// types, the child's side of the exchange (Serve), and the parent's
// processes (Proc) and their set (Fleet), worker i dialling from
// 127.0.(1+i).2-9 so that no source address runs out of local ports.
//
// It sits between the scenarios (bench/) and what the children do
// (bench/loadclient, the floor server) so neither knows the other's
// internals. It must never leave a child behind: children die with the
// parent (Pdeathsig), exit when their stdin closes, and every call has a
// timeout.
package worker
