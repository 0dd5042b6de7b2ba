package client_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/starling-ws/starling/client"
	"github.com/starling-ws/starling/internal/testserver"
	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/server"
)

func withHistory(c *server.Config) { c.HistorySize, c.MaxReplay = 1024, 1024 }

// TestResumeAfterServerCut: the server drops the subscriber's connection
// (no close frame) three times while a publisher keeps publishing; the
// client reconnects by itself and the application receives every
// publication exactly once, in order, each resubscription saying
// recovered: true.
func TestResumeAfterServerCut(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := testserver.Start(t, engine, withHistory)
		pub := connect(t, ts.URL, client.Options{})
		rec := newRecorder()
		sub := connect(t, ts.URL, client.Options{OnEvent: rec.on})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		got := make(chan client.Message, 4096)
		s, err := sub.Subscribe(ctx, "feed", func(m client.Message) { got <- m })
		if err != nil {
			t.Fatal(err)
		}
		pubAddr := localAddr(t, pub)

		const n = 600
		values := make([]int, n+1) // offset -> value published at it
		var published atomic.Int64
		pubErr := make(chan error, 1)
		go func() {
			tick := time.NewTicker(time.Millisecond) // a steady stream, not a burst
			defer tick.Stop()
			for i := 1; i <= n; i++ {
				<-tick.C
				off, err := pub.Publish(ctx, "feed", i)
				if err != nil {
					pubErr <- err
					return
				}
				if off < 1 || off > n {
					pubErr <- &client.ServerError{Msg: "offset out of range"}
					return
				}
				values[off] = i
				published.Add(1)
			}
			pubErr <- nil
		}()
		for cut := 1; cut <= 3; cut++ {
			wstest.WaitFor(t, "publisher progress", func() bool { return published.Load() >= int64(cut*n/4) })
			if k := ts.Cut(pubAddr); k != 1 {
				t.Fatalf("cut %d dropped %d connections, want the subscriber's 1", cut, k)
			}
			rec.waitKind(t, client.Subscribed, cut+1) // back and resubscribed before the next cut
		}
		if err := <-pubErr; err != nil {
			t.Fatalf("publisher: %v", err)
		}
		for want := uint64(1); want <= n; want++ {
			select {
			case m := <-got:
				var v int
				if err := json.Unmarshal(m.Data, &v); err != nil || m.Offset != want || v != values[want] {
					t.Fatalf("got offset %d data %s, want offset %d data %d", m.Offset, m.Data, want, values[want])
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("offset %d never arrived", want)
			}
		}
		subs := rec.kind(client.Subscribed)
		if len(subs) != 4 || subs[0].Resumed {
			t.Fatalf("subscribed events: %+v", subs)
		}
		for _, e := range subs[1:] {
			if !e.Resumed || !e.Recovered {
				t.Fatalf("a resubscription was not recovered: %+v", e)
			}
		}
		for _, e := range rec.kind(client.Disconnected) {
			if e.Code != 1006 {
				t.Fatalf("disconnected with %d, want 1006 (cut without a close frame): %+v", e.Code, e)
			}
		}
		if errs := rec.kind(client.Error); len(errs) > 3 { // at most one failed dial per cut would be odd but allowed
			t.Fatalf("errors: %+v", errs)
		}
		select {
		case m := <-got:
			t.Fatalf("extra message after the last: %+v", m)
		default:
		}
		t.Logf("%d publications, 3 cuts, %d duplicates dropped by the client", n, s.Duplicates())
	})
}

// TestResumeStaleEpoch: after a server restart the channel's epoch is new;
// the resubscription says recovered: false (the application must reload),
// the position restarts in the new epoch and live messages are delivered,
// not dropped as duplicates of the old epoch's offsets.
func TestResumeStaleEpoch(t *testing.T) {
	ts := testserver.Start(t, "epoll", withHistory)
	rec := newRecorder()
	sub := connect(t, ts.URL, client.Options{OnEvent: rec.on})
	pub := connect(t, ts.URL, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make(chan client.Message, 64)
	s, err := sub.Subscribe(ctx, "st", func(m client.Message) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		if _, err := pub.Publish(ctx, "st", i); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 5; i++ {
		if m := <-got; m.Offset != uint64(i) {
			t.Fatalf("offset %d, want %d", m.Offset, i)
		}
	}
	_, oldEpoch, _ := s.Position()
	ts.Restart(t)
	evs := rec.waitKind(t, client.Subscribed, 2)
	if e := evs[1]; !e.Resumed || e.Recovered || e.Epoch == oldEpoch || e.Offset != 0 {
		t.Fatalf("resubscription after restart: %+v (old epoch %s)", e, oldEpoch)
	}
	off, err := pub.Publish(ctx, "st", "new")
	if err != nil || off != 1 {
		t.Fatalf("publish after restart: off %d, %v", off, err)
	}
	select {
	case m := <-got:
		if m.Offset != 1 || string(m.Data) != `"new"` {
			t.Fatalf("after restart got %+v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the new epoch's first message never arrived (dropped as a duplicate?)")
	}
	if o, e, _ := s.Position(); o != 1 || e == oldEpoch {
		t.Fatalf("position %d %s after the new epoch's first message", o, e)
	}
}

// TestConcurrentUse: several goroutines publish on their own channels
// through one client while another client holds a subscription to each;
// every channel arrives complete and in order.
func TestConcurrentUse(t *testing.T) {
	ts := testserver.Start(t, "epoll", nil)
	pub := connect(t, ts.URL, client.Options{})
	sub := connect(t, ts.URL, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const chans, per = 8, 100
	var mu sync.Mutex
	seen := map[string][]uint64{}
	done := make(chan struct{}, chans*per)
	for k := range chans {
		ch := "c" + string(rune('a'+k))
		if _, err := sub.Subscribe(ctx, ch, func(m client.Message) {
			mu.Lock()
			seen[m.Channel] = append(seen[m.Channel], m.Offset)
			mu.Unlock()
			done <- struct{}{}
		}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for k := range chans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				if _, err := pub.Publish(ctx, "c"+string(rune('a'+k)), k); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for range chans * per {
		select {
		case <-done:
		case <-ctx.Done():
			t.Fatal("messages missing")
		}
	}
	for ch, offs := range seen {
		for i, o := range offs {
			if o != uint64(i+1) {
				t.Fatalf("%s: offsets %v", ch, offs)
			}
		}
	}
}
