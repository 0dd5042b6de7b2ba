// Package procstat reads what the Linux kernel says about a process, its
// sockets and the host's memory, for the bench: a process's RSS, CPU,
// threads and descriptors, slab caches, TCP socket memory, listen-queue
// counters, which process owns a listening port, and the RLIMIT_NOFILE
// getrlimit(2) gives. Every /proc file is parsed by
// github.com/prometheus/procfs, not by hand.
//
// It is a package of its own so the scenarios read figures, not file
// formats, and so the capacity planner (bench/plan), which must build on
// macOS, never imports it. It must never decide what a figure means for a
// connection (which slab caches a socket lives in, per-connection
// division: bench/ does that), write to /proc or /sys, or keep state
// between calls.
package procstat
