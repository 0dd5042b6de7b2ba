package client_test

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/starling-ws/starling/client"
)

// recorder keeps every event a client emits; changed is signalled on each.
type recorder struct {
	mu      sync.Mutex
	evs     []client.Event
	changed chan struct{}
	hook    func(client.Event)
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

func (r *recorder) on(e client.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, e)
	hook := r.hook
	r.mu.Unlock()
	if hook != nil {
		hook(e)
	}
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) kind(k client.EventKind) []client.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []client.Event
	for _, e := range r.evs {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// waitKind waits until at least n events of kind k were seen.
func (r *recorder) waitKind(t *testing.T, k client.EventKind, n int) []client.Event {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if evs := r.kind(k); len(evs) >= n {
			return evs
		}
		select {
		case <-r.changed:
		case <-deadline:
			t.Fatalf("timed out waiting for %d %v events; have %v", n, k, r.kind(k))
		}
	}
}

func connect(t *testing.T, url string, o client.Options) *client.Client {
	t.Helper()
	c, err := client.Connect(url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// localAddr waits until c is connected and returns its local address.
func localAddr(t *testing.T, c *client.Client) net.Addr {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if a := client.LocalAddr(c); a != nil {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatal("client never connected")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeClock is a manual Clock: timers fire only when Advance passes them;
// every NewTimer is announced on armed.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	armed  chan time.Duration
}

type fakeTimer struct {
	c  chan time.Time
	at time.Time
	fc *fakeClock
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1_700_000_000, 0), armed: make(chan time.Duration, 16)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) NewTimer(d time.Duration) client.Timer {
	f.mu.Lock()
	t := &fakeTimer{c: make(chan time.Time, 1), at: f.now.Add(d), fc: f}
	f.timers = append(f.timers, t)
	f.mu.Unlock()
	f.armed <- d
	return t
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	keep := f.timers[:0]
	for _, t := range f.timers {
		if t.at.After(f.now) {
			keep = append(keep, t)
			continue
		}
		t.c <- f.now
	}
	f.timers = keep
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	f := t.fc
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, x := range f.timers {
		if x == t {
			f.timers = append(f.timers[:i], f.timers[i+1:]...)
			return true
		}
	}
	return false
}
