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
