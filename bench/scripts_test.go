package bench

import (
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

var sysctlKeys = []string{
	"fs.file-max", "fs.nr_open", "net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog",
	"net.ipv4.ip_local_port_range", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem", "net.ipv4.tcp_mem",
	"net.core.netdev_max_backlog", "net.netfilter.nf_conntrack_max", "memory",
}

var lineRe = regexp.MustCompile(`^(\S+(?: \([^)]*\))?)\s+current=(.+?)\s+required=(.+?)\s+(OK|LOW|INFO|ABSENT)\s+# (.+)$`)

// runCheck runs scripts/sysctl.sh check and parses its report.
func runCheck(t *testing.T, args ...string) (status map[string]string, result string, code int) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"../scripts/sysctl.sh", "check"}, args...)...)
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	status = map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(l, "result: ") {
			result = l
			continue
		}
		m := lineRe.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("unparsable line %q", l)
		}
		if strings.TrimSpace(m[2]) == "" || strings.TrimSpace(m[3]) == "" {
			t.Fatalf("line lacks current or required value: %q", l)
		}
		status[m[1]] = m[4]
	}
	return status, result, code
}

func TestSysctlCheck(t *testing.T) {
	status, result, code := runCheck(t, "--conns", "1000")
	var low []string
	for _, k := range sysctlKeys {
		s, ok := status[k]
		if !ok {
			t.Errorf("no line for %s", k)
		}
		if s == "LOW" {
			low = append(low, k)
		}
	}
	// The exit code must agree with what was printed.
	if len(low) == 0 && (code != 0 || result != "result: ok") {
		t.Fatalf("nothing LOW but exit %d, %q", code, result)
	}
	if len(low) > 0 && (code != 1 || result != "result: blocked by: "+strings.Join(low, " ")) {
		t.Fatalf("LOW %v but exit %d, %q", low, code, result)
	}
	t.Logf("--conns 1000 on this machine: exit %d, %s", code, result)

	// Ten million connections cannot fit this kind of machine: the check
	// must fail and name what binds; every named key must be printed LOW.
	status, result, code = runCheck(t, "--conns", "10000000")
	if code != 1 || !strings.HasPrefix(result, "result: blocked by: ") {
		t.Fatalf("--conns 10000000: exit %d, %q", code, result)
	}
	named := strings.Fields(strings.TrimPrefix(result, "result: blocked by: "))
	if len(named) == 0 {
		t.Fatal("no binding key named")
	}
	for _, k := range named {
		if status[k] != "LOW" {
			t.Errorf("%s named as blocking but printed %q", k, status[k])
		}
	}
	if status["fs.nr_open"] != "LOW" && status["memory"] != "LOW" {
		t.Errorf("10M connections should be blocked by fs.nr_open (default 1048576) or memory: %v", status)
	}
}

func TestSysctlUsageErrors(t *testing.T) {
	f := func(want string, args ...string) {
		t.Helper()
		out, err := exec.Command("bash", append([]string{"../scripts/sysctl.sh"}, args...)...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), want) {
			t.Fatalf("%v: err %v, out %q; want exit 2 naming %q", args, err, out, want)
		}
	}
	f("--conns", "apply") // apply changes the host: it has no default count
	f("--conns", "check", "--conns", "-5")
	f("--conn-bytes", "check", "--conns", "10", "--conn-bytes", "x")
	f("frobnicate", "frobnicate")
	f("--nope", "check", "--conns", "10", "--nope")
}

// check with no --conns checks for the -max-conns default, 150000: the same
// report as asking for it, and a note on stderr that says so.
func TestSysctlCheckDefaultsToMaxConns(t *testing.T) {
	run := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command("bash", append([]string{"../scripts/sysctl.sh", "check"}, args...)...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
	}
	def, note, code := run()
	if code == 2 || !strings.Contains(note, "150000") || !strings.Contains(note, "-max-conns") {
		t.Fatalf("check without --conns: exit %d, stderr %q", code, note)
	}
	want, _, wantCode := run("--conns", "150000")
	if def != want || code != wantCode {
		t.Fatalf("check without --conns (exit %d):\n%s\nwith --conns 150000 (exit %d):\n%s", code, def, wantCode, want)
	}
	if !strings.Contains(def, "required=>= 215536") { // fs.file-max: N + 65536
		t.Fatalf("report is not for 150000 connections:\n%s", def)
	}
	status, result, _ := runCheck(t)
	if len(status) != len(sysctlKeys)+1 || !strings.HasPrefix(result, "result: ") { // + the shell's nofile line
		t.Fatalf("%d lines, %q", len(status), result)
	}
}
