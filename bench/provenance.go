package bench

import (
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/starling-ws/starling/bench/plan"
	"github.com/starling-ws/starling/bench/procstat"
)

// ThisMachine describes the host from /proc and the runtime.
func ThisMachine() plan.Machine {
	m := plan.Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	m.CPUModel, m.Kernel = procstat.CPUModel(), procstat.KernelRelease()
	if mi, err := procstat.Meminfo(); err == nil {
		m.MemTotal = mi.Total
	}
	m.NoFileHard = procstat.NoFileHard()
	return m
}

// gitCommit is the work tree's HEAD, "" if unknown; "+dirty" when modified.
func gitCommit() string {
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return ""
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		c += "+dirty"
	}
	return c
}

func nowDate() string { return time.Now().UTC().Format(time.RFC3339) }
