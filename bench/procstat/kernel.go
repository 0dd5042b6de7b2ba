package procstat

import (
	"errors"
	"os"

	"github.com/prometheus/procfs"
)

var pageSize = int64(os.Getpagesize())

func defaultFS() (procfs.FS, error) { return procfs.NewDefaultFS() }

// Slabinfo returns the active bytes (active objects x object size) of every
// slab cache, from /proc/slabinfo (readable by root only).
func Slabinfo() (map[string]int64, error) {
	fs, err := defaultFS()
	if err != nil {
		return nil, err
	}
	si, err := fs.SlabInfo()
	if err != nil {
		return nil, err
	}
	m := make(map[string]int64, len(si.Slabs))
	for _, s := range si.Slabs {
		m[s.Name] = s.ObjActive * s.ObjSize
	}
	return m, nil
}

// Memory is the host's /proc/meminfo, the figures the bench uses.
type Memory struct {
	Total int64 // MemTotal, bytes
	Slab  int64 // all slab caches, bytes: the fallback without slabinfo
}

// Meminfo reads /proc/meminfo.
func Meminfo() (Memory, error) {
	fs, err := defaultFS()
	if err != nil {
		return Memory{}, err
	}
	mi, err := fs.Meminfo()
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	if mi.MemTotalBytes != nil {
		m.Total = int64(*mi.MemTotalBytes)
	}
	if mi.SlabBytes != nil {
		m.Slab = int64(*mi.SlabBytes)
	}
	return m, nil
}

// Sockstat returns the TCP sockets in use and their buffer memory in bytes
// (the "TCP:" line of /proc/net/sockstat, whole network namespace).
func Sockstat() (inuse, mem int64, err error) {
	fs, err := defaultFS()
	if err != nil {
		return 0, 0, err
	}
	ss, err := fs.NetSockstat()
	if err != nil {
		return 0, 0, err
	}
	for _, p := range ss.Protocols {
		if p.Protocol != "TCP" {
			continue
		}
		if p.Mem != nil {
			mem = int64(*p.Mem) * pageSize
		}
		return int64(p.InUse), mem, nil
	}
	return 0, 0, errors.New("sockstat: no TCP line")
}

// Listen are the namespace's TcpExt counters about accepting connections
// (/proc/self/net/netstat, the same file as /proc/net/netstat).
type Listen struct {
	Overflows      int64 // ListenOverflows: accept queue full
	Drops          int64 // ListenDrops
	SynRetrans     int64 // TCPSynRetrans
	SyncookiesSent int64
}

// ListenCounters reads the TcpExt listen counters; zeros if unreadable.
func ListenCounters() Listen {
	p, err := procfs.Self()
	if err != nil {
		return Listen{}
	}
	ns, err := p.Netstat()
	if err != nil {
		return Listen{}
	}
	v := func(f *float64) int64 {
		if f == nil {
			return 0
		}
		return int64(*f)
	}
	return Listen{Overflows: v(ns.ListenOverflows), Drops: v(ns.ListenDrops), SynRetrans: v(ns.TCPSynRetrans), SyncookiesSent: v(ns.SyncookiesSent)}
}
