package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/starling-ws/starling/gate"
	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/server"
)

// withAcceptRate sets -accept-rate/-accept-burst on the test's wall clock,
// which moves only when the test moves it: how many handshakes the bucket
// admits is then decided by the test, not by the machine's speed.
func withAcceptRate(t testing.TB, w *wallClock, perSec float64, burst int) func(*server.Config) {
	ar, err := gate.NewAcceptRate(perSec, burst, gate.DefaultMaxRetryAfter)
	if err != nil {
		t.Fatal(err)
	}
	return func(c *server.Config) { c.AcceptRate, c.Now = ar, w.Now }
}

// retryAfter reads a 503's Retry-After (seconds, 1..DefaultMaxRetryAfter).
func retryAfter(h http.Header) (int, error) {
	n, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || n < 1 || n > gate.DefaultMaxRetryAfter {
		return 0, fmt.Errorf("Retry-After %q", h.Get("Retry-After"))
	}
	return n, nil
}

// Beyond the accept bucket a handshake gets 503 with a Retry-After drawn
// per response; established connections are unaffected, and the bucket
// refills with time.
func TestAcceptRate(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		w := newWall()
		ts := startServer(t, engine, opts{srv: withAcceptRate(t, w, 1, 2)})
		a, b := wstest.Dial(t, ts.addr).Upgrade(), wstest.Dial(t, ts.addr).Upgrade()
		seen := map[int]int{}
		for range 30 {
			r := request(wstest.Dial(t, ts.addr), upgradeReq("/ws"))
			expectRefused(t, r, 503, "rate limited: retry later")
			n, err := retryAfter(r.header)
			if err != nil {
				t.Fatal(err)
			}
			seen[n]++
		}
		if len(seen) < 3 {
			t.Fatalf("30 refusals carried only Retry-After values %v: not spread", seen)
		}
		a.SendJSON(jsonOp("sub", "ch", 1, nil))
		expectKV(t, a.NextJSON(), "op", "ack", "id", 1)
		b.SendJSON(jsonOp("pub", "ch", 2, "x"))
		expectKV(t, b.NextJSON(), "op", "ack", "id", 2)
		expectKV(t, a.NextJSON(), "op", "msg", "data", "x")
		if st := ts.srv.Stats(); st.Rejected["rate_limited"] != 30 || st.Open != 2 {
			t.Fatalf("rate_limited %d, open %d", st.Rejected["rate_limited"], st.Open)
		}
		w.Add(time.Second)
		wstest.Dial(t, ts.addr).Upgrade()
	})
}

// stormResult is one storm handshake's outcome.
type stormResult struct {
	status int
	retry  int
	err    error
}

// stormDial opens one connection, sends an upgrade request and reads the
// answer; a 101's connection is kept (closed by the caller), any other's
// closed. It runs on its own goroutine, so it reports, never fails the test.
func stormDial(addr string, keep chan<- net.Conn) stormResult {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return stormResult{err: err}
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, upgradeReq("/ws")); err != nil {
		c.Close()
		return stormResult{err: err}
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return stormResult{err: err}
	}
	r := stormResult{status: resp.StatusCode}
	if r.status == 503 {
		r.retry, r.err = retryAfter(resp.Header)
	}
	if r.status == 101 {
		keep <- c
	} else {
		c.Close()
	}
	return r
}

// TestAdmissionStorm is issue 10's storm: 2,000 handshakes at once
// against -accept-rate 200 (burst 200) while 500 established subscribers
// receive a steady publish stream. The excess is refused with 503 (and a
// spread of Retry-After values), no established connection is closed and
// no publish is lost. The wall clock stands still during the storm (it
// all arrives within one instant), so exactly the burst is admitted.
func TestAdmissionStorm(t *testing.T) {
	const subs, storm, rate = 500, 2000, 200
	w := newWall()
	ts := startServer(t, "epoll", opts{srv: withAcceptRate(t, w, rate, rate)})
	// The subscribers and the publisher arrived over time, at the rate.
	conns := make([]*wstest.Conn, subs)
	for i := range conns {
		if i%rate == 0 {
			w.Add(time.Second)
		}
		conns[i] = wstest.Dial(t, ts.addr).Upgrade()
		conns[i].SendJSON(jsonOp("sub", "feed", 1, nil))
	}
	for _, c := range conns {
		expectKV(t, c.NextJSON(), "op", "ack", "id", 1)
	}
	pub := wstest.Dial(t, ts.addr).Upgrade()
	w.Add(time.Second) // the bucket holds its burst again
	base := ts.srv.Stats()

	start := time.Now()
	keep := make(chan net.Conn, storm)
	results := make(chan stormResult, storm)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range storm {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
			results <- stormDial(ts.addr, keep)
		}()
	}
	close(release)
	// The stream: one publish per 10 storm answers, each waiting for its
	// ack, so publishes and handshakes interleave for the whole storm.
	var offs []float64
	var got []stormResult
	for len(got) < storm {
		got = append(got, <-results)
		if len(got)%10 == 1 {
			pub.SendJSON(jsonOp("pub", "feed", len(got), len(got)))
			ack := pub.NextJSON()
			expectKV(t, ack, "op", "ack", "id", len(got))
			offs = append(offs, ack["off"].(float64))
		}
	}
	wg.Wait()
	took := time.Since(start)
	close(keep)
	for c := range keep {
		defer c.Close()
	}

	admitted, refused, retries := 0, 0, map[int]int{}
	for _, r := range got {
		switch {
		case r.err != nil:
			t.Fatalf("storm handshake: %v (status %d)", r.err, r.status)
		case r.status == 101:
			admitted++
		case r.status == 503:
			refused++
			retries[r.retry]++
		default:
			t.Fatalf("storm handshake answered %d", r.status)
		}
	}
	if admitted != rate || refused != storm-rate {
		t.Fatalf("admitted %d, refused %d; want %d and %d", admitted, refused, rate, storm-rate)
	}
	// The gate books the refused over the seconds the rate needs to take
	// them, at most rate a second: 1800 refusals at 200/s over 1..9 s
	// (the last jittered into the 10th).
	window := (refused + rate - 1) / rate
	for v, n := range retries {
		if v > window+1 {
			t.Fatalf("Retry-After %d beyond the %d s the rate needs to drain the refused", v, window)
		}
		if n > rate {
			t.Fatalf("%d clients told to come back in %d s: more than the %d a second admits (%v)", n, v, rate, retries)
		}
	}
	if len(retries) < window {
		t.Fatalf("%d refusals: Retry-After values %v are not spread over 1..%d", refused, retries, window)
	}
	// Every subscriber got every publish, in order, and is still open.
	for i, c := range conns {
		for j, want := range offs {
			m := c.NextJSON()
			if m["op"] != "msg" || m["off"] != want {
				t.Fatalf("subscriber %d, publish %d: got %v, want off %v", i, j, m, want)
			}
		}
	}
	for i, off := range offs[1:] {
		if off != offs[i]+1 {
			t.Fatalf("offsets not consecutive: %v", offs)
		}
	}
	st := ts.srv.Stats()
	if d := st.Rejected["rate_limited"] - base.Rejected["rate_limited"]; d != uint64(refused) {
		t.Fatalf("rate_limited counted %d, want %d", d, refused)
	}
	if st.Open != int64(subs+1+admitted) {
		t.Fatalf("open %d, want %d", st.Open, subs+1+admitted)
	}
	for who, byCode := range st.Closes {
		if n := sumCodes(byCode) - sumCodes(base.Closes[who]); n != 0 {
			t.Fatalf("%d connections closed (by %s) during the storm: %v", n, who, byCode)
		}
	}
	keys := slices.Sorted(func(yield func(int) bool) {
		for k := range retries {
			if !yield(k) {
				return
			}
		}
	})
	t.Logf("storm: %d handshakes in %v: %d admitted, %d refused 503 with %d distinct Retry-After values (%d..%d s); "+
		"%d publishes during the storm, each delivered to all %d subscribers in order; 0 established connections closed",
		storm, took.Round(time.Millisecond), admitted, refused, len(retries), keys[0], keys[len(keys)-1], len(offs), subs)
}

func sumCodes(m map[uint16]uint64) (n uint64) {
	for _, v := range m {
		n += v
	}
	return n
}
