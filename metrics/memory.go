package metrics

import (
	"errors"
	"fmt"
	"os"

	"github.com/prometheus/procfs"
)

// memory turns kernel figures into the two memory gauges (docs/operations.md, "Memory"):
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
	fs       procfs.FS // /proc, parsed by prometheus/procfs
	fsErr    error     // why /proc could not be opened; every read returns it
	page     int64
	baseline int64 // RSS bytes at start; 0 if /proc could not be read
}

func (m *memory) init() {
	m.page = int64(os.Getpagesize())
	m.fs, m.fsErr = procfs.NewDefaultFS()
	m.baseline, _ = m.rss()
}

// rss is the resident set size from /proc/self/statm.
func (m *memory) rss() (int64, error) {
	if m.fsErr != nil {
		return 0, m.fsErr
	}
	p, err := m.fs.Self()
	if err != nil {
		return 0, err
	}
	st, err := p.Statm()
	if err != nil {
		return 0, fmt.Errorf("statm: %w", err)
	}
	return int64(st.Resident) * m.page, nil
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

// kernelTCP reads the namespace's TCP socket memory: "mem N" (pages) on the
// "TCP:" line of /proc/net/sockstat.
func (m *memory) kernelTCP() (int64, error) {
	if m.fsErr != nil {
		return 0, m.fsErr
	}
	ss, err := m.fs.NetSockstat()
	if err != nil {
		return 0, fmt.Errorf("sockstat TCP mem: %w", err)
	}
	for _, p := range ss.Protocols {
		if p.Protocol != "TCP" {
			continue
		}
		if p.Mem == nil {
			return 0, errors.New("sockstat: no mem on the TCP line")
		}
		return int64(*p.Mem) * m.page, nil
	}
	return 0, errors.New("sockstat: no TCP line")
}
