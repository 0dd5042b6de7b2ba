package cluster

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/starling-ws/starling/frame"
)

// The measurements behind docs/cluster.md. They take tens of seconds and
// print figures rather than check them, so they run only when asked:
//
//	STARLING_MEASURE=1 go test -run Measure -v ./cluster/
func measuring(t *testing.T) {
	if os.Getenv("STARLING_MEASURE") == "" {
		t.Skip("set STARLING_MEASURE=1 to run the cluster measurements")
	}
}

func heapInuse() uint64 {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestMeasureSubjectMemory: what the NATS server holds per subscribed
// subject, the price of interest per channel. The subscribers are raw TCP
// connections speaking the NATS protocol (no client objects in this
// process), so the heap growth is the embedded server's alone.
func TestMeasureSubjectMemory(t *testing.T) {
	measuring(t)
	ns := startNATS(t)
	for _, tc := range []struct{ conns, subjects int }{{1, 10000}, {1, 100000}, {3, 100000}} {
		before := heapInuse()
		var conns []net.Conn
		for c := range tc.conns {
			conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ns.Port()))
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, conn)
			r := bufio.NewReader(conn)
			if _, err := r.ReadString('\n'); err != nil { // INFO
				t.Fatal(err)
			}
			w := bufio.NewWriterSize(conn, 1<<16)
			fmt.Fprintf(w, "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n")
			for i := range tc.subjects {
				// Distinct subjects per connection: per-user channels
				// live on one node each.
				fmt.Fprintf(w, "SUB starling.live.user:%d-%07d %d\r\n", c, i, i+1)
			}
			fmt.Fprintf(w, "PING\r\n")
			w.Flush()
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				if line == "PONG\r\n" {
					break
				}
			}
		}
		after := heapInuse()
		total := tc.conns * tc.subjects
		t.Logf("nats-server heap: %d connections x %d subjects: +%.1f MiB, %.0f B per subscription",
			tc.conns, tc.subjects, float64(after-before)/(1<<20), float64(after-before)/float64(total))
		for _, c := range conns {
			c.Close()
		}
		waitFor(t, "server dropped the subscriptions", func() bool { return ns.NumSubscriptions() < 100 })
	}
}

// TestMeasureLiveBandwidth: bytes one node receives per publication on the
// live feed (NATS framing, subject, JetStream headers, data), for a data
// size typical of chat and presence payloads.
func TestMeasureLiveBandwidth(t *testing.T) {
	measuring(t)
	ns := startNATS(t)
	a := newNode(t, testCfg(ns.url()))
	b := newNode(t, testCfg(ns.url()))
	a.waitReady(t)
	b.waitReady(t)
	for _, size := range []int{16, 100, 1000} {
		data := []byte(fmt.Sprintf("%q", make([]byte, size-2)))[:size]
		for i := range data {
			data[i] = 'x'
		}
		data[0], data[size-1] = '"', '"'
		in0, n0 := b.bus.nc.Stats().InBytes, b.count()
		const n = 2000
		var wg sync.WaitGroup
		wg.Add(n)
		for i := range n {
			ch := fmt.Sprintf("user:%07d.inbox", i)
			if err := a.bus.Publish([]byte(ch), data, frame.JSON, func(_ uint64, err error) {
				if err != nil {
					t.Error(err)
				}
				wg.Done()
			}); err != nil {
				t.Fatal(err)
			}
		}
		wg.Wait()
		waitFor(t, "b has them", func() bool { return b.count() == n0+n })
		per := float64(b.bus.nc.Stats().InBytes-in0) / n
		t.Logf("live feed: %d B data -> %.0f B on the wire per publication per node (%.0f B overhead)", size, per, per-float64(size))
	}
}

// TestMeasureOffsets compares the two ways to number a channel's
// publications: the stream sequence (republish model: pipelined async
// publishes, offsets increase) and contiguous per-channel offsets by
// optimistic concurrency (each publish carries the expected last sequence
// of its subject and its own offset; a conflict re-reads the last message
// and retries). Figures: publications per second on ONE channel from one
// node and from three nodes at once, and one publish's ack latency.
func TestMeasureOffsets(t *testing.T) {
	measuring(t)
	ns := startNATS(t)
	cfg := testCfg(ns.url())
	cfg.HistorySize = 100000
	setup := newNode(t, cfg)
	setup.waitReady(t)
	conns := make([]jetstream.JetStream, 3)
	for i := range conns {
		nc, err := nats.Connect(ns.url())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		conns[i], _ = jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	}
	const dur = 3 * time.Second
	data := []byte(`{"text":"hello, this is a chat message of some length"}`)

	republish := func(js jetstream.JetStream, subj string, stop <-chan struct{}) (n int64, lat []time.Duration) {
		for {
			select {
			case <-stop:
				<-js.PublishAsyncComplete()
				return n, nil
			default:
			}
			if _, err := js.PublishAsync(subj, data, jetstream.WithStallWait(10*time.Second)); err != nil {
				t.Error(err)
				return
			}
			n++
		}
	}
	contiguous := func(js jetstream.JetStream, subj string, stop <-chan struct{}) (n int64, lat []time.Duration) {
		var last, off uint64
		conflicts := 0
		for {
			select {
			case <-stop:
				if conflicts > 0 {
					t.Logf("  contiguous publisher: %d acked, %d conflicts", n, conflicts)
				}
				return n, lat
			default:
			}
			m := nats.NewMsg(subj)
			m.Data = data
			m.Header.Set("Starling-Off", fmt.Sprint(off+1))
			start := time.Now()
			ack, err := js.PublishMsg(t.Context(), m, jetstream.WithExpectLastSequencePerSubject(last))
			if err != nil {
				// Another node took the next offset: read the channel's
				// last message and go again.
				conflicts++
				lm, gerr := js.Conn().Request("$JS.API.DIRECT.GET.STARLING.LAST."+subj, nil, time.Second)
				if gerr != nil {
					t.Error(gerr)
					return
				}
				last, _ = parseSeq(lm.Header, jetstream.SequenceHeader)
				fmt.Sscan(lm.Header.Get("Starling-Off"), &off)
				continue
			}
			lat = append(lat, time.Since(start))
			last, off = ack.Sequence, off+1
			n++
		}
	}
	run := func(name string, pubs int, f func(jetstream.JetStream, string, <-chan struct{}) (int64, []time.Duration)) {
		subj := "starling.ch." + name
		stop := make(chan struct{})
		var total atomic.Int64
		var mu sync.Mutex
		var lat []time.Duration
		var wg sync.WaitGroup
		start := time.Now()
		for i := range pubs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, l := f(conns[i], subj, stop)
				total.Add(n)
				mu.Lock()
				lat = append(lat, l...)
				mu.Unlock()
			}()
		}
		time.Sleep(dur) // the measurement window, not synchronisation
		close(stop)
		wg.Wait()
		el := time.Since(start)
		msg := fmt.Sprintf("%-28s %d publisher(s): %8.0f publications/s on one channel", name, pubs, float64(total.Load())/el.Seconds())
		if len(lat) > 0 {
			slices.Sort(lat)
			msg += fmt.Sprintf(", ack latency p50 %v p99 %v", lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond))
		}
		t.Log(msg)
	}
	run("republish-async", 1, republish)
	run("republish-async-3", 3, republish)
	sync1 := func(js jetstream.JetStream, subj string, stop <-chan struct{}) (n int64, lat []time.Duration) {
		for {
			select {
			case <-stop:
				return n, lat
			default:
			}
			start := time.Now()
			if _, err := js.Publish(t.Context(), subj, data); err != nil {
				t.Error(err)
				return
			}
			lat = append(lat, time.Since(start))
			n++
		}
	}
	run("republish-sync", 1, sync1)
	run("republish-sync-3", 3, sync1)
	run("contiguous-occ", 1, contiguous)
	run("contiguous-occ-3", 3, contiguous)
}
