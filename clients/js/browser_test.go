package js_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/starling-ws/starling/internal/testserver"
	"github.com/starling-ws/starling/server"
)

// The page: loads starling.js as a module and records, for the test to
// read back, every message (offset, data) and every event the client emits.
const page = `<!doctype html><meta charset="utf-8"><title>starling</title>
<script type="module">
import * as starling from '/starling.js';
window.starling = starling;
window.T = { got: [], events: [], tokens: 0 };
const record = (c) => {
  for (const type of ['connecting', 'connected', 'authenticated', 'disconnected', 'subscribed', 'error', 'closed']) {
    c.on(type, (d) => T.events.push({ type, ...d, error: d.error ? String(d.error.code ?? d.error) : undefined }));
  }
  return c;
};
window.count = (type) => T.events.filter((e) => e.type === type).length;
// subscriber: subscribes to ch and keeps what arrives.
window.startSubscriber = (url, ch) => {
  window.client = record(starling.connect(url));
  window.sub = client.subscribe(ch, (m) => T.got.push([m.offset, m.data]));
};
// tokenClient: every connection's token comes from getToken.
window.startTokenClient = (url) => {
  window.client = record(starling.connect(url, { getToken: async () => 'token-' + (++T.tokens) }));
};
// refresher: tokens that expire 2 s after they are made.
window.startRefresher = (url) => {
  const b64 = (o) => btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  const mint = () => b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64({ sub: 'u' + (++T.tokens), exp: Math.floor(Date.now() / 1000) + 2 }) + '.c2ln';
  window.client = record(starling.connect(url, { getToken: async () => mint() }));
};
// pinger: a client that pings after ms of silence.
window.startPinger = (url, ms) => {
  window.client = record(starling.connect(url, { pingInterval: ms, pongTimeout: 3 * ms, backoffBase: 50, backoffMax: 200 }));
};
window.ready = true;
</script>`

// browser starts headless Chromium (Debian's chromium; .ci/run installs
// it) with the flags this machine needs, and returns a tab on a page
// served from loopback next to starling.js.
func browser(t *testing.T) (context.Context, string) {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (apt-get install -y chromium; .ci/run does): %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/starling.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, "starling.js") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	})
	web := httptest.NewServer(mux)
	t.Cleanup(web.Close)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelT(); cancelB(); cancelA() })
	if err := chromedp.Do(ctx, chromedp.Navigate(web.URL+"/")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	waitJS(t, ctx, "window.ready === true")
	return ctx, web.URL
}

// eval evaluates expr in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// do runs statements in the page.
func do(t *testing.T, ctx context.Context, stmt string) { eval[bool](t, ctx, "("+stmt+", true)") }

// waitJS polls a boolean expression in the page for up to 30 s.
func waitJS(t *testing.T, ctx context.Context, expr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if eval[bool](t, ctx, expr) {
			return
		}
		if time.Now().After(deadline) {
			evs, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("JSON.stringify(window.T && T.events)"))
			t.Fatalf("timed out waiting for %s; events: %s", expr, evs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type event struct {
	Type      string `json:"type"`
	Code      int    `json:"code"`
	Reason    string `json:"reason"`
	Resumed   bool   `json:"resumed"`
	Recovered bool   `json:"recovered"`
	Attempt   int    `json:"attempt"`
	Delay     int    `json:"delay"`
	Error     string `json:"error"`
}

func events(t *testing.T, ctx context.Context, typ string) []event {
	t.Helper()
	s := eval[string](t, ctx, "JSON.stringify(T.events)")
	var all, out []event
	if err := json.Unmarshal([]byte(s), &all); err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// publisher publishes 1, 2, 3 ... on ch through its own connection, one
// per tick, until stop is called or max is reached, and records the offset
// each took.
type publisher struct {
	values map[uint64]int // offset -> value; read after done
	acked  atomic.Int64
	stopc  chan struct{}
	done   chan error
	local  string
}

func startPublisher(t *testing.T, url, ch string, max int, every time.Duration) *publisher {
	t.Helper()
	conn, _, _, err := ws.Dial(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	p := &publisher{values: map[uint64]int{}, stopc: make(chan struct{}), done: make(chan error, 1), local: conn.LocalAddr().String()}
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := 1; i <= max; i++ {
			select {
			case <-p.stopc:
				p.done <- nil
				return
			case <-tick.C:
			}
			b, _ := json.Marshal(map[string]any{"op": "pub", "ch": ch, "data": i, "id": i})
			if err := wsutil.WriteClientText(conn, b); err != nil {
				p.done <- err
				return
			}
			var ack struct {
				Op  string `json:"op"`
				Off uint64 `json:"off"`
			}
			b, err := wsutil.ReadServerText(conn)
			if err == nil {
				err = json.Unmarshal(b, &ack)
			}
			if err != nil || ack.Op != "ack" {
				p.done <- fmt.Errorf("publish %d: %s %v", i, b, err)
				return
			}
			p.values[ack.Off] = i
			p.acked.Store(int64(i))
		}
		p.done <- nil
	}()
	return p
}

// waitProgress waits until i publishes were acknowledged.
func (p *publisher) waitProgress(t *testing.T, i int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for p.acked.Load() < int64(i) {
		if time.Now().After(deadline) {
			t.Fatalf("publisher stalled at %d of %d", p.acked.Load(), i)
		}
		time.Sleep(time.Millisecond)
	}
}

// stop ends the stream and returns how many were published.
func (p *publisher) stop(t *testing.T) int {
	t.Helper()
	close(p.stopc)
	if err := <-p.done; err != nil {
		t.Fatalf("publisher: %v", err)
	}
	return int(p.acked.Load())
}

// publishN publishes 1..n and returns once all are acknowledged.
func publishN(t *testing.T, url, ch string, n int) {
	t.Helper()
	p := startPublisher(t, url, ch, n, time.Millisecond)
	p.waitProgress(t, n)
	p.stop(t)
}

// TestBrowserResume: the server drops the page's connection (no close
// frame) three times while a publisher keeps publishing; starling.js
// reconnects by itself, and the page has every publication exactly once,
// in order, with each resubscription saying recovered: true.
func TestBrowserResume(t *testing.T) {
	ts := testserver.Start(t, "epoll", func(c *server.Config) { c.HistorySize, c.MaxReplay = 1024, 1024 })
	ctx, _ := browser(t)
	do(t, ctx, fmt.Sprintf("startSubscriber(%q, 'feed')", ts.URL))
	waitJS(t, ctx, "count('subscribed') === 1")

	// The stream runs until after the third resubscription: every cut is
	// mid-stream, whatever the reconnect waits drawn.
	pub := startPublisher(t, ts.URL, "feed", 100_000, 2*time.Millisecond)
	keep := pubAddr(t, pub)
	for cut := 1; cut <= 3; cut++ {
		pub.waitProgress(t, int(pub.acked.Load())+100)
		if k := ts.Cut(keep); k != 1 {
			t.Fatalf("cut %d dropped %d connections, want the page's 1", cut, k)
		}
		waitJS(t, ctx, fmt.Sprintf("count('subscribed') === %d", cut+1))
	}
	pub.waitProgress(t, int(pub.acked.Load())+100)
	n := pub.stop(t)
	waitJS(t, ctx, fmt.Sprintf("T.got.length >= %d", n))

	var got [][2]int
	s := eval[string](t, ctx, "JSON.stringify(T.got)")
	if err := json.Unmarshal([]byte(s), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("page has %d messages, want exactly %d", len(got), n)
	}
	for i, m := range got {
		if off := uint64(i + 1); m[0] != int(off) || m[1] != pub.values[off] {
			t.Fatalf("message %d is offset %d data %d; want offset %d data %d", i, m[0], m[1], off, pub.values[off])
		}
	}
	subs := events(t, ctx, "subscribed")
	if len(subs) != 4 || subs[0].Resumed {
		t.Fatalf("subscribed events: %+v", subs)
	}
	for _, e := range subs[1:] {
		if !e.Resumed || !e.Recovered {
			t.Fatalf("a resubscription was not recovered: %+v", e)
		}
	}
	for _, e := range events(t, ctx, "disconnected") {
		if e.Code != 1006 {
			t.Fatalf("disconnected %+v, want 1006", e)
		}
	}
	dups := eval[int](t, ctx, "sub.duplicates()")
	var delays []int
	for _, e := range events(t, ctx, "connecting")[1:] {
		delays = append(delays, e.Delay)
	}
	t.Logf("%d publications, 3 cuts, reconnect waits %v ms, %d duplicates dropped by the page", n, delays, dups)
}

// pubAddr is the publisher's local address as the server sees its peer.
func pubAddr(t *testing.T, p *publisher) *net.TCPAddr {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", p.local)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestBrowserTokenRefused: the server closes the page's connection with
// 4401 twice; the page fetches one fresh token, then stops ('closed' with
// 4401) instead of reconnecting forever.
func TestBrowserTokenRefused(t *testing.T) {
	ts := testserver.Start(t, "epoll", nil)
	ctx, _ := browser(t)
	do(t, ctx, fmt.Sprintf("startTokenClient(%q)", ts.URL))
	for i := 1; i <= 2; i++ {
		waitJS(t, ctx, fmt.Sprintf("count('connected') === %d", i))
		if k := ts.CloseWith(4401, "token expired"); k != 1 {
			t.Fatalf("closed %d connections", k)
		}
	}
	waitJS(t, ctx, "count('closed') === 1")
	tokens := eval[int](t, ctx, "T.tokens")
	state := eval[string](t, ctx, "client.state")
	closed := events(t, ctx, "closed")[0]
	if tokens != 2 || state != "closed" || closed.Code != 4401 || len(events(t, ctx, "connecting")) != 2 {
		t.Fatalf("tokens %d, state %s, closed %+v, %d attempts", tokens, state, closed, len(events(t, ctx, "connecting")))
	}
}

// TestBrowserOffline: DevTools takes the page offline; the client drops
// its connection and waits (no reconnect attempts while offline); back
// online it reconnects and resumes with recovered: true.
func TestBrowserOffline(t *testing.T) {
	ts := testserver.Start(t, "epoll", nil)
	ctx, _ := browser(t)
	do(t, ctx, fmt.Sprintf("startSubscriber(%q, 'off')", ts.URL))
	waitJS(t, ctx, "count('subscribed') === 1")
	// One message first: a channel that retains nothing ends with its last
	// subscriber, and a resume into a new epoch is recovered: false.
	publishN(t, ts.URL, "off", 1)
	waitJS(t, ctx, "T.got.length === 1")
	setOffline(t, ctx, true)
	waitJS(t, ctx, "count('disconnected') === 1 && !navigator.onLine")
	publishN(t, ts.URL, "off", 5) // while the page is offline
	attempts := eval[int](t, ctx, "count('connecting')")
	if attempts != 1 {
		t.Fatalf("%d connection attempts while offline", attempts-1)
	}
	setOffline(t, ctx, false)
	waitJS(t, ctx, "count('subscribed') === 2 && T.got.length === 6")
	subs := events(t, ctx, "subscribed")
	if !subs[1].Resumed || !subs[1].Recovered {
		t.Fatalf("after offline: %+v", subs[1])
	}
	if d := events(t, ctx, "disconnected")[0]; d.Reason != "browser offline" {
		t.Fatalf("disconnected %+v", d)
	}
}

// TestBrowserBackoff: in the browser, 1,000 draws per attempt stay within
// [0, min(20 s, 0.5 s * 2^n)] and span it (full jitter).
func TestBrowserBackoff(t *testing.T) {
	ctx, _ := browser(t)
	res := eval[string](t, ctx, `(() => {
	  const out = [];
	  for (let n = 0; n < 9; n++) {
	    const ceil = starling.backoffCeiling(n);
	    let lo = Infinity, hi = -Infinity, bad = 0;
	    for (let i = 0; i < 1000; i++) {
	      const d = starling.backoffDelay(n);
	      if (d < 0 || d > ceil || !Number.isInteger(d)) bad++;
	      lo = Math.min(lo, d); hi = Math.max(hi, d);
	    }
	    out.push([ceil, lo, hi, bad]);
	  }
	  return JSON.stringify(out);
	})()`)
	var rows [][4]int
	if err := json.Unmarshal([]byte(res), &rows); err != nil {
		t.Fatal(err)
	}
	want := []int{500, 1000, 2000, 4000, 8000, 16000, 20000, 20000, 20000}
	for n, r := range rows {
		ceil, lo, hi, bad := r[0], r[1], r[2], r[3]
		if ceil != want[n] || bad != 0 || lo > ceil/50 || hi < ceil-ceil/50 {
			t.Fatalf("attempt %d: ceiling %d (want %d), draws in [%d, %d], %d out of bounds", n, ceil, want[n], lo, hi, bad)
		}
	}
	if !strings.Contains(res, "20000") {
		t.Fatal("cap never reached")
	}
}

// setOffline switches the page's navigator.onLine through DevTools, which
// fires the window's offline/online events as a real network change does.
func setOffline(t *testing.T, ctx context.Context, off bool) {
	t.Helper()
	if _, err := chromedp.Call(ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{
		Offline: off, DownloadThroughput: -1, UploadThroughput: -1,
	}); err != nil {
		t.Fatalf("offline %v: %v", off, err)
	}
}

// TestBrowserPing: against the real server the page's ping op is answered
// and the connection stays (the server counts the pings); against a peer
// that upgrades and then answers nothing, the page gives up after
// pongTimeout and reconnects.
func TestBrowserPing(t *testing.T) {
	ts := testserver.Start(t, "epoll", nil)
	ctx, _ := browser(t)
	do(t, ctx, fmt.Sprintf("startPinger(%q, 40)", ts.URL))
	waitJS(t, ctx, "count('connected') === 1")
	deadline := time.Now().Add(20 * time.Second)
	for ts.Srv.Stats().MessagesIn < 20 { // the page sends nothing but pings
		if time.Now().After(deadline) {
			t.Fatalf("only %d pings in 20 s", ts.Srv.Stats().MessagesIn)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := events(t, ctx, "disconnected"); len(d) != 0 {
		t.Fatalf("disconnected although every ping was answered: %+v", d)
	}
	do(t, ctx, "client.close()")

	silent, _ := testserver.Silent(t)
	do(t, ctx, fmt.Sprintf("T.events = [], startPinger(%q, 40)", silent))
	waitJS(t, ctx, "count('disconnected') >= 2")
	for _, e := range events(t, ctx, "disconnected") {
		if e.Reason != "no pong within pongTimeout" {
			t.Fatalf("disconnected %+v", e)
		}
	}
}

// TestBrowserTokenRefresh: a token whose exp is near is renewed through an
// auth op on the live connection, twice, without a reconnect.
func TestBrowserTokenRefresh(t *testing.T) {
	ts := testserver.Start(t, "epoll", nil)
	ctx, _ := browser(t)
	do(t, ctx, fmt.Sprintf("startRefresher(%q)", ts.URL))
	waitJS(t, ctx, "count('authenticated') >= 3")
	if c, d, n := eval[int](t, ctx, "count('connected')"), eval[int](t, ctx, "count('disconnected')"), eval[int](t, ctx, "T.tokens"); c != 1 || d != 0 || n < 3 {
		t.Fatalf("%d connections, %d disconnects, %d tokens", c, d, n)
	}
}
