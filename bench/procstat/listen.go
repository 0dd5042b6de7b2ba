package procstat

import (
	"fmt"
	"strconv"

	"github.com/prometheus/procfs"
)

// tcpListen is the LISTEN state in /proc/net/tcp's "st" column.
const tcpListen = 0x0A

// PIDListening finds the process holding the TCP socket that listens on
// port (IPv4 or IPv6): the socket's inode from /proc/net/tcp{,6}, then the
// process with a descriptor on it.
func PIDListening(port int) (int, error) {
	fs, err := defaultFS()
	if err != nil {
		return 0, err
	}
	var inode uint64
	for _, read := range []func() (procfs.NetTCP, error){fs.NetTCP, fs.NetTCP6} {
		socks, err := read()
		if err != nil {
			continue // no IPv6 in this kernel, say
		}
		for _, s := range socks {
			if s.St == tcpListen && s.LocalPort == uint64(port) {
				inode = s.Inode
			}
		}
	}
	if inode == 0 {
		return 0, fmt.Errorf("nothing listens on port %d", port)
	}
	want := "socket:[" + strconv.FormatUint(inode, 10) + "]"
	procs, err := fs.AllProcs()
	if err != nil {
		return 0, err
	}
	for _, p := range procs {
		targets, _ := p.FileDescriptorTargets()
		for _, t := range targets {
			if t == want {
				return p.PID, nil
			}
		}
	}
	return 0, fmt.Errorf("no process holds the socket listening on port %d", port)
}

// tcpFinWait1 is FIN_WAIT1 in /proc/net/tcp's "st" column.
const tcpFinWait1 = 0x04

// FinWait1 counts the sockets on local port port that sit in FIN-WAIT-1
// with bytes still unsent (tx_queue > 0): a closed connection whose peer
// stopped reading, pinning kernel send buffer until it is reset.
type FinWait1 struct {
	Sockets int
	Unsent  uint64 // bytes, all of them together
}

// FinWait1Unsent reads /proc/net/tcp{,6} for port's FIN-WAIT-1 sockets
// with unsent bytes.
func FinWait1Unsent(port int) FinWait1 {
	var fw FinWait1
	fs, err := defaultFS()
	if err != nil {
		return fw
	}
	for _, read := range []func() (procfs.NetTCP, error){fs.NetTCP, fs.NetTCP6} {
		socks, err := read()
		if err != nil {
			continue
		}
		for _, s := range socks {
			if s.St == tcpFinWait1 && s.LocalPort == uint64(port) && s.TxQueue > 0 {
				fw.Sockets++
				fw.Unsent += s.TxQueue
			}
		}
	}
	return fw
}
