package metrics_test

import (
	"github.com/starling-ws/starling/internal/wstest"

	"bufio"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestBinarySIGTERMReadinessFirst runs the real binary, connects a client,
// sends SIGTERM and checks that /readyz already answers 503 when the
// client's 1001 arrives (the client's connection is still open then: it
// has not answered the close), and that the process drains and exits 0.
func TestBinarySIGTERMReadinessFirst(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "starling")
	build := exec.Command("go", "build", "-o", bin, "./cmd/starling")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/starling: %v\n%s", err, out)
	}

	cmd := exec.Command(bin, "serve", "-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0",
		"-log-format", "json", "-max-conns", "1000", "-drain-timeout", "10s", "-close-grace", "5s")
	errPipe, err := cmd.StderrPipe() // logs go to stderr
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	})

	// Log lines: JSON objects; the test waits on their "msg".
	var (
		mu    sync.Mutex
		lines []map[string]any
	)
	seen := make(chan map[string]any, 64)
	go func() {
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				m = map[string]any{"msg": "unparsed: " + sc.Text()}
			}
			mu.Lock()
			lines = append(lines, m)
			mu.Unlock()
			select {
			case seen <- m:
			default:
			}
		}
		exited <- cmd.Wait()
	}()
	logs := func() string {
		mu.Lock()
		defer mu.Unlock()
		var b strings.Builder
		for _, m := range lines {
			j, _ := json.Marshal(m)
			b.Write(j)
			b.WriteByte('\n')
		}
		return b.String()
	}
	await := func(msg string) map[string]any {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case m := <-seen:
				if m["msg"] == msg {
					return m
				}
			case <-timeout:
				t.Fatalf("no %q log line; logs:\n%s", msg, logs())
			}
		}
	}
	wsAddr, _ := await("serving")["addr"].(string)
	adminAddr, _ := await("admin listening")["addr"].(string)
	base := "http://" + adminAddr

	c := wstest.Dial(t, wsAddr).Upgrade()
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz while serving: %d %q", code, body)
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	if v := scrape(t, base+"/metrics").value("starling_connections"); v != 1 {
		t.Fatalf("starling_connections = %v, want 1", v)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.NextClose(); code != ws.StatusGoingAway {
		t.Fatalf("close %d on SIGTERM, want 1001", code)
	}
	// We hold the close unanswered: our connection is still open.
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "shutting down") {
		t.Fatalf("/readyz when the 1001 arrived: %d %q, want 503 shutting down", code, body)
	}
	if v := scrape(t, base+"/metrics").value("starling_ready"); v != 0 {
		t.Fatalf("starling_ready = %v during drain, want 0", v)
	}
	c.Send(ws.OpClose, true, closeBody(ws.StatusGoingAway))
	c.ExpectEOF()
	c.C.Close()

	select {
	case err := <-exited:
		exited <- err // for Cleanup
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, logs())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("did not exit after SIGTERM; logs:\n%s", logs())
	}
	// Lifecycle lines, in order, once each.
	all := logs()
	last := -1
	for _, msg := range []string{`"msg":"serving"`, `"msg":"admin listening"`, `"msg":"shutdown: draining"`,
		`"msg":"draining"`, `"msg":"drained"`, `"msg":"stopped"`} {
		i := strings.Index(all, msg)
		if i < 0 || strings.Count(all, msg) != 1 || i < last {
			t.Fatalf("want one %s after the previous lifecycle line; logs:\n%s", msg, all)
		}
		last = i
	}
}
