package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/starling-ws/starling/bench/procstat"
)

// Target is the server under test: spawned by us or already running.
type Target struct {
	Addr       string // host:port
	Path       string
	PID        int
	MetricsURL string // "" when the server has no admin endpoint
	Note       string // what we could not measure and why
	cmd        *exec.Cmd
	exited     chan error
	stopOnce   sync.Once
	stopped    chan struct{} // closed once Stop has seen the process exit
}

// SpawnOpts is how to start `starling serve` for a run.
type SpawnOpts struct {
	Engine       string
	PingInterval time.Duration
	MaxConns     int
	Extra        []string // passed through verbatim (after --)
}

// freePort asks the kernel for an unused port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Spawn runs this binary's `serve` on a free port and waits until it accepts.
func Spawn(ctx context.Context, o SpawnOpts) (*Target, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("spawn: free port: %w", err)
	}
	t := &Target{Addr: fmt.Sprintf("127.0.0.1:%d", port), Path: "/ws"}
	args := []string{"serve", "-addr", t.Addr, "-log-level", "warn"}
	if o.Engine != "" {
		args = append(args, "-engine", o.Engine)
	}
	if o.PingInterval > 0 {
		args = append(args, "-ping-interval", o.PingInterval.String())
	}
	if o.MaxConns > 0 {
		args = append(args, "-max-conns", strconv.Itoa(o.MaxConns))
	}
	help, _ := exec.Command(exe, "serve", "-h").CombinedOutput()
	if bytes.Contains(help, []byte("-admin-addr")) {
		ap, err := freePort()
		if err != nil {
			return nil, err
		}
		args = append(args, "-admin-addr", fmt.Sprintf("127.0.0.1:%d", ap))
		t.MetricsURL = fmt.Sprintf("http://127.0.0.1:%d/metrics", ap)
	} else {
		t.Note = "server has no -admin-addr: Go heap not reported (RSS only)"
	}
	if bytes.Contains(help, []byte("-drain-timeout")) {
		args = append(args, "-drain-timeout", "1s") // teardown between runs should be quick
	}
	args = append(args, o.Extra...)
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("spawn serve: %w", err)
	}
	t.cmd, t.PID = cmd, cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", t.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("spawn serve %s: exited before listening: %v", strings.Join(args, " "), err)
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Stop()
			return nil, fmt.Errorf("spawn serve: not listening on %s after 15s", t.Addr)
		}
	}
	t.exited = exited
	return t, nil
}

// Attach describes an already running server at rawURL (ws://host:port/path).
// pid 0 means: find the process listening on that port via /proc.
func Attach(rawURL string, pid int, metrics string) (*Target, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "ws" || u.Host == "" {
		return nil, fmt.Errorf("-url must look like ws://127.0.0.1:8080/ws, got %q", rawURL)
	}
	t := &Target{Addr: u.Host, Path: u.Path, PID: pid, MetricsURL: metrics}
	if t.Path == "" {
		t.Path = "/"
	}
	if t.PID == 0 {
		_, ps, _ := net.SplitHostPort(u.Host)
		port, _ := strconv.Atoi(ps)
		if t.PID, err = procstat.PIDListening(port); err != nil {
			return nil, fmt.Errorf("-pid not given and %v; pass -pid", err)
		}
	}
	if t.MetricsURL == "" {
		t.Note = "no -metrics URL: Go heap not reported (RSS only)"
	}
	return t, nil
}

// Stop ends a spawned server (SIGTERM, then SIGKILL); attached ones are
// left alone. Safe to call more than once and from several goroutines:
// every call returns once the process is gone.
func (t *Target) Stop() {
	if t == nil || t.cmd == nil || t.cmd.Process == nil {
		return
	}
	t.stopOnce.Do(func() {
		t.stopped = make(chan struct{})
		defer close(t.stopped)
		_ = t.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-t.exited:
		case <-time.After(12 * time.Second): // drain may take up to -drain-timeout
			_ = t.cmd.Process.Kill()
			<-t.exited
		}
	})
	<-t.stopped
}
