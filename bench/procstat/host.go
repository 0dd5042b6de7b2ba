package procstat

import (
	"strings"
	"syscall"
)

// CPUModel is the first CPU's model name, "" if unknown.
func CPUModel() string {
	fs, err := defaultFS()
	if err != nil {
		return ""
	}
	ci, err := fs.CPUInfo()
	if err != nil || len(ci) == 0 {
		return ""
	}
	return ci[0].ModelName
}

// KernelRelease is the running kernel's release, "" if unknown.
func KernelRelease() string {
	fs, err := defaultFS()
	if err != nil {
		return ""
	}
	v, err := fs.SysctlStrings("kernel.osrelease")
	if err != nil {
		return ""
	}
	return strings.Join(v, " ")
}

// NoFileHard is the hard RLIMIT_NOFILE of this process, 0 if unknown.
func NoFileHard() uint64 {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 0
	}
	return rl.Max
}

// RaiseNoFile lifts the soft RLIMIT_NOFILE to the hard one and returns it.
func RaiseNoFile() uint64 {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 0
	}
	rl.Cur = rl.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	return rl.Cur
}

// LoadAvg is the 1-minute load average, -1 if unknown (the machine is
// shared: a run's report says how busy it was).
func LoadAvg() float64 {
	fs, err := defaultFS()
	if err != nil {
		return -1
	}
	l, err := fs.LoadAvg()
	if err != nil {
		return -1
	}
	return l.Load1
}
