//go:build linux

package poller

import (
	"bytes"
	"log/slog"
	"sync"

	"github.com/cloudwego/netpoll"
)

// netpoll keeps its tuning in package globals that its pollers read without
// synchronisation, so they are set once, before this process's first netpoll
// connection exists, and never again.
//
// Why these values: an idle connection keeps the tail node of its input
// LinkBuffer for life (LinkBuffer.resetTail only drops a tail larger than
// 8 KiB), and netpoll sizes that node max(Config.BufferSize, LinkBufferCap) =
// 8 KiB by default. WebSocket clients of a pub/sub server send small frames
// (sub/unsub/pub ops, pings), so 512 bytes holds a typical read, and a larger
// burst still works: netpoll doubles its read size (bookSize) whenever a read
// fills it and sizes the next node by the data seen between releases, so
// big messages cost a few more reads, not correctness. LinkBufferCap is the
// floor for every node; it must come down too or BufferSize is rounded back
// up to 4 KiB.
//
// Measured (TestNetpollMeasureIdle, 2-core VM, server process only, growth
// per connection at N=5,000 and N=10,000): Go heap+stacks idle 11.5 KiB
// default vs 3.8 KiB tuned; after one 16-byte message each way RSS 8.2 KiB
// default vs 4.0-4.5 KiB tuned (idle RSS is ~3.5 KiB either way because the
// untouched 8 KiB buffer is not yet faulted in). The remaining ~3.3 KiB is
// netpoll's per-connection state (connection, FDOperator, two LinkBuffers,
// a pooled 1.3 KiB writev barrier, channels) plus our 80-byte Conn.
const (
	netpollBufferSize    = 512
	netpollLinkBufferCap = 512
)

var (
	// netpollTuned selects the tuned settings; the memory measurement turns
	// it off in a child process to measure netpoll's defaults.
	netpollTuned = true
	netpollOnce  sync.Once
	netpollErr   error
)

// tuneNetpoll applies the process-wide netpoll settings once. Its log output
// goes to log (netpoll otherwise writes to stderr with the log package).
func tuneNetpoll(log *slog.Logger) error {
	netpollOnce.Do(func() {
		cfg := netpoll.Config{
			LoggerOutput: slogWriter{log},
			LoadBalance:  netpoll.RoundRobin,
		}
		if netpollTuned {
			cfg.BufferSize = netpollBufferSize
			netpoll.LinkBufferCap = netpollLinkBufferCap
		}
		netpollErr = netpoll.Configure(cfg)
	})
	return netpollErr
}

// slogWriter turns netpoll's log lines into slog warnings (netpoll logs only
// failures: accept errors, detach errors, close errors).
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Warn("netpoll", "msg", string(bytes.TrimSpace(p)))
	return len(p), nil
}
