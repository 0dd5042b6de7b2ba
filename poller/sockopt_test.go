//go:build linux

package poller

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// sndbufProbe reads SO_SNDBUF of each accepted socket in OnOpen.
type sndbufProbe struct {
	counter
	got chan int
}

func (h *sndbufProbe) OnOpen(c *Conn) {
	v, err := unix.GetsockoptInt(c.Fd(), unix.SOL_SOCKET, unix.SO_SNDBUF)
	if err != nil {
		v = -1
	}
	h.got <- v
}

// procInt reads the first integer of a /proc/sys file.
func procInt(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.Atoi(strings.Fields(string(b))[0])
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSendBufferApplied: Config.SendBuffer reaches every accepted socket
// on both engines and accept modes, as the kernel reports it (twice the
// value asked, within net.core.wmem_max); 0 leaves the kernel's default.
func TestSendBufferApplied(t *testing.T) {
	const asked = 48 << 10
	wmemMax := procInt(t, "/proc/sys/net/core/wmem_max")
	want := 2 * min(asked, wmemMax)
	for _, tc := range []struct {
		name string
		mode acceptMode
	}{{"epoll-reuseport", acceptReusePort}, {"epoll-acceptor", acceptSingle}, {"netpoll", 0}} {
		for _, sb := range []int{asked, 0} {
			h := &sndbufProbe{got: make(chan int, 4)}
			cfg := Config{Addr: "127.0.0.1:0", SendBuffer: sb}
			var eng Engine
			if tc.name == "netpoll" {
				eng = startNetpoll(t, cfg, h)
			} else {
				eng = startEpoll(t, tc.mode, cfg, h)
			}
			for i := 0; i < 3; i++ {
				nc, err := net.Dial("tcp", eng.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
				var got int
				select {
				case got = <-h.got:
				case <-time.After(5 * time.Second):
					t.Fatalf("%s: no OnOpen", tc.name)
				}
				switch {
				case sb != 0 && got != want:
					t.Fatalf("%s, SendBuffer %d: accepted socket has SO_SNDBUF %d, want %d", tc.name, sb, got, want)
				case sb == 0 && got == want:
					// The default is the kernel's, autotuned at once (it
					// reads megabytes here): anything but what was asked.
					t.Fatalf("%s, SendBuffer 0: SO_SNDBUF %d is the explicit size", tc.name, got)
				}
			}
		}
	}
	if _, err := NewEpoll(Config{SendBuffer: -1}); err == nil || !strings.Contains(err.Error(), "SendBuffer") {
		t.Fatalf("negative SendBuffer: %v", err)
	}
	if _, err := NewNetpoll(Config{Addr: ":0", SendBuffer: -1}); err == nil || !strings.Contains(err.Error(), "SendBuffer") {
		t.Fatalf("negative SendBuffer (netpoll): %v", err)
	}
}
