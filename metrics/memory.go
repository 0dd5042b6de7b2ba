package metrics

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// memory turns kernel figures into the two memory gauges (README "Memory"):
//
//   - starling_memory_per_connection_bytes = (RSS now - RSS baseline) /
//     connections registered now, where RSS is /proc/self/statm's resident
//     pages times the page size, and the baseline is the RSS when New ran
//     (before the engine accepted anything). It charges each connection
//     with everything the process grew by since start: session records,
//     engine and shard slots, decoder and outbound buffers, goroutine
//     stacks, and Go heap not yet returned to the kernel (so it overstates
//     after many connections have left; it is 0 with no connections).
//   - starling_kernel_tcp_memory_bytes = /proc/net/sockstat "TCP: ... mem N"
//     times the page size: kernel memory held by TCP socket buffers in the
//     whole network namespace (not only this process's sockets), the figure
//     net.ipv4.tcp_mem limits.
type memory struct {
	page     int64
	baseline int64 // RSS bytes at start; 0 if /proc could not be read
}

func (m *memory) init() {
	m.page = int64(os.Getpagesize())
	m.baseline, _ = m.rss()
}

// rss is the resident set size from /proc/self/statm (second field, pages).
func (m *memory) rss() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, fmt.Errorf("statm: %d fields", len(f))
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("statm: %w", err)
	}
	return pages * m.page, nil
}

// perConn is the growth since the baseline shared over conns.
func (m *memory) perConn(conns int64) (float64, error) {
	if conns <= 0 {
		return 0, nil
	}
	r, err := m.rss()
	if err != nil {
		return 0, err
	}
	return float64(max(r-m.baseline, 0)) / float64(conns), nil
}

// kernelTCP reads the namespace's TCP socket memory from /proc/net/sockstat.
func (m *memory) kernelTCP() (int64, error) {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return 0, err
	}
	return parseSockstatTCPMem(b, m.page)
}

// parseSockstatTCPMem finds "mem N" on the "TCP:" line (N in pages).
func parseSockstatTCPMem(b []byte, page int64) (int64, error) {
	for line := range bytes.Lines(b) {
		f := bytes.Fields(line)
		if len(f) == 0 || string(f[0]) != "TCP:" {
			continue
		}
		for i := 1; i+1 < len(f); i += 2 {
			if string(f[i]) == "mem" {
				n, err := strconv.ParseInt(string(f[i+1]), 10, 64)
				if err != nil {
					return 0, fmt.Errorf("sockstat TCP mem: %w", err)
				}
				return n * page, nil
			}
		}
		return 0, fmt.Errorf("sockstat: no mem on the TCP line")
	}
	return 0, fmt.Errorf("sockstat: no TCP line")
}
