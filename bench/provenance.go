package bench

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/starling-ws/starling/bench/plan"
)

// ThisMachine describes the host from /proc and the runtime.
func ThisMachine() plan.Machine {
	m := plan.Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				if i := strings.IndexByte(l, ':'); i >= 0 {
					m.CPUModel = strings.TrimSpace(l[i+1:])
				}
				break
			}
		}
	}
	if mi, err := ReadMeminfo(); err == nil {
		m.MemTotal = mi["MemTotal"]
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.NoFileHard = noFileHard()
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
