//go:build linux

package poller

import (
	"io"
	"net"
	"testing"
	"time"
)

// checkStopAccepting is the StopAccepting contract, the same for both
// engines: given an established connection nc to an echo handler, after
// StopAccepting a new dial is refused and nc still echoes.
func checkStopAccepting(t *testing.T, e Engine, nc net.Conn) {
	t.Helper()
	if err := e.StopAccepting(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", e.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("dial succeeded after StopAccepting")
	}
	nc.Write([]byte("still here"))
	got := make([]byte, 10)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(nc, got); err != nil || string(got) != "still here" {
		t.Fatalf("echo after StopAccepting: %q %v", got, err)
	}
}
