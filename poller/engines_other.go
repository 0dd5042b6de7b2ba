//go:build !linux

package poller

import (
	"fmt"
	"runtime"
)

// New reports that no engine exists here: both are built on Linux's epoll.
// The rest of the package (Conn's write path, NewTestConn) builds anywhere
// so that the packages above it build and test on a developer's laptop.
func New(name string, cfg Config) (Engine, error) {
	return nil, fmt.Errorf("poller: the %q engine needs Linux (epoll); this is %s", name, runtime.GOOS)
}
