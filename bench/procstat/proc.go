package procstat

import (
	"fmt"

	"github.com/prometheus/procfs"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat: USER_HZ is 100
// on every Linux ABI Go supports (procfs assumes the same).
const userHZ = 100.0

// Proc is one look at a process.
type Proc struct {
	RSS     int64   // resident bytes, /proc/<pid>/statm
	UserCPU float64 // utime, seconds: our code and the Go runtime
	SysCPU  float64 // stime, seconds: the kernel's work on our behalf (send(2))
	Threads int
	FDs     int // open descriptors; -1 if /proc/<pid>/fd is unreadable
}

// CPU is the process's utime+stime in seconds.
func (p Proc) CPU() float64 { return p.UserCPU + p.SysCPU }

// ReadProc reads pid's memory, CPU, threads and descriptor count.
func ReadProc(pid int) (Proc, error) {
	pr, err := procfs.NewProc(pid)
	if err != nil {
		return Proc{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	sm, err := pr.Statm()
	if err != nil {
		return Proc{}, fmt.Errorf("pid %d statm: %w", pid, err)
	}
	st, err := pr.Stat()
	if err != nil {
		return Proc{}, fmt.Errorf("pid %d stat: %w", pid, err)
	}
	p := Proc{RSS: int64(sm.ResidentBytes()), UserCPU: float64(st.UTime) / userHZ, SysCPU: float64(st.STime) / userHZ,
		Threads: st.NumThreads, FDs: -1}
	if n, err := pr.FileDescriptorsLen(); err == nil {
		p.FDs = n
	}
	return p, nil
}
