//go:build linux

package poller

import "fmt"

// The engines live in epoll*.go (NewEpoll, Epoll) and netpoll*.go
// (NewNetpoll, Netpoll); dial.go holds what only the load generator uses
// (Epoll.Start, Epoll.Dial).

// New returns the engine called name ("epoll" or "netpoll").
func New(name string, cfg Config) (Engine, error) {
	switch name {
	case "epoll":
		e, err := NewEpoll(cfg)
		if err != nil {
			return nil, err // not a typed nil inside Engine
		}
		return e, nil
	case "netpoll":
		e, err := NewNetpoll(cfg)
		if err != nil {
			return nil, err
		}
		return e, nil
	}
	return nil, fmt.Errorf("poller: unknown engine %q (want epoll or netpoll)", name)
}
