package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/server"
)

// Hostile resumes (issue 14): positions a server never gave out, many
// and subscribers that leave in the middle of a replay.

// subSince is a sub op with since.
func subSince(ch string, id any, off any, epoch any) map[string]any {
	m := jsonOp("sub", ch, id, nil)
	m["since"] = map[string]any{"off": off, "epoch": epoch}
	return m
}

// publishN publishes n messages "m<off>" on ch from c (ack per pub) and
// returns the channel's epoch as a sub ack reports it.
func publishN(t *testing.T, c *wstest.Conn, ch string, n int) {
	t.Helper()
	for i := range n {
		c.SendJSON(jsonOp("pub", ch, i, fmt.Sprint("m", i+1)))
		expectKV(t, c.NextJSON(), "op", "ack", "id", i)
	}
}

// TestAttackResumeOddPositions: since positions the server never gave out
// get recovered:false and the current position, never a replay of
// something else, never an error that drops the sub: an offset past the
// channel's (by one, and 2^64-1), epochs of every odd shape (empty, upper
// case, too long, non-ASCII, past 2^32 in base 36), a since on a channel
// that does not exist yet. A since that is not {off: uint, epoch: string}
// is a malformed op (400). The real position resumes, also written with
// JSON escapes.
func TestAttackResumeOddPositions(t *testing.T) {
	ts := startServer(t, "epoll", opts{srv: func(c *server.Config) { c.HistorySize = 16 }})
	pub := wstest.Dial(t, ts.addr).Upgrade()
	probe := wstest.Dial(t, ts.addr).Upgrade()
	probe.SendJSON(jsonOp("sub", "r", 0, nil))
	epoch := probe.NextJSON()["epoch"].(string)
	publishN(t, pub, "r", 3)

	c := wstest.Dial(t, ts.addr).Upgrade()
	id := 0
	lost := func(off, ep any) {
		t.Helper()
		id++
		c.SendJSON(subSince("r", id, off, ep))
		expectKV(t, c.NextJSON(), "op", "ack", "id", id, "off", 3, "epoch", epoch, "recovered", false)
		c.SendJSON(jsonOp("unsub", "r", "u", nil))
		expectKV(t, c.NextJSON(), "op", "ack", "id", "u")
	}
	lost(4, epoch)
	lost(uint64(1<<64-1), epoch)
	for _, ep := range []string{"", strings.ToUpper(epoch), epoch + " ", " " + epoch, "zzzzzzz", "1zzzzzz",
		strings.Repeat("a", 1000), "é", "k-1", "0x1f", "\x00"} {
		if ep == epoch {
			continue
		}
		lost(2, ep)
	}
	// A new channel: nothing to resume, whatever since says.
	id++
	c.SendJSON(subSince("fresh", id, 0, epoch))
	expectKV(t, c.NextJSON(), "op", "ack", "id", id, "off", 0, "recovered", false)

	// Not a since: 400, and the connection stays.
	for _, bad := range []string{
		`{"op":"sub","ch":"r","id":90,"since":{"off":-1,"epoch":"` + epoch + `"}}`,
		`{"op":"sub","ch":"r","id":90,"since":{"off":1.5,"epoch":"` + epoch + `"}}`,
		`{"op":"sub","ch":"r","id":90,"since":{"off":"1","epoch":"` + epoch + `"}}`,
		`{"op":"sub","ch":"r","id":90,"since":{"off":1,"epoch":7}}`,
		`{"op":"sub","ch":"r","id":90,"since":{"off":1}}`,
		`{"op":"sub","ch":"r","id":90,"since":{"off":1,"epoch":"` + epoch + `","x":1}}`,
		`{"op":"sub","ch":"r","id":90,"since":{"off":18446744073709551616,"epoch":"` + epoch + `"}}`,
		`{"op":"sub","ch":"r","id":90,"since":[1,"` + epoch + `"]}`,
	} {
		c.SendText(bad)
		expectKV(t, c.NextJSON(), "op", "err", "code", 400)
	}
	mp := wstest.Dial(t, ts.addr).Upgrade()
	mp.SendMP(map[string]any{"op": "sub", "ch": "r", "id": 1, "since": map[string]any{"off": -1, "epoch": epoch}})
	expectKV(t, mp.NextMP(), "op", "err", "code", 400)

	// The real position, plainly and escaped.
	esc := ""
	for _, r := range epoch {
		esc += fmt.Sprintf(`\u%04x`, r)
	}
	for i, ep := range []string{`"` + epoch + `"`, `"` + esc + `"`} {
		c.SendText(fmt.Sprintf(`{"op":"sub","ch":"r","id":%d,"since":{"epoch":%s,"off":1}}`, 100+i, ep))
		expectKV(t, c.NextJSON(), "op", "ack", "id", 100+i, "off", 3, "recovered", true)
		expectKV(t, c.NextJSON(), "op", "msg", "off", 2, "data", "m2")
		expectKV(t, c.NextJSON(), "op", "msg", "off", 3, "data", "m3")
		c.SendJSON(jsonOp("unsub", "r", "u", nil))
		expectKV(t, c.NextJSON(), "op", "ack", "id", "u")
	}
	if n := ts.srv.Hub().Stats().Subscriptions; n != 2 {
		t.Fatalf("subscriptions %d, want the probe's and fresh's", n)
	}
}

// TestAttackResumeStorm: 1,000 connections each resume 64 publications at
// once while 16 more are published live. (It found a join's replay, served
// at a fan-out's checkpoint, emptying the run's frames: members after the
// checkpoint silently missed the live publication; under -race about one
// run in three.) Every connection gets its ack
// (recovered:true, at some offset K), then offsets 1..K from history,
// then K+1..80 live: strictly increasing by one, nothing duplicated or
// missing, the data of each offset its own.
func TestAttackResumeStorm(t *testing.T) {
	const conns, kept, live = 1000, 64, 16
	ts := startServer(t, "epoll", opts{srv: func(c *server.Config) {
		c.HistorySize, c.MaxReplay = kept+live, kept+live
	}})
	pub := wstest.Dial(t, ts.addr).Upgrade()
	probe := wstest.Dial(t, ts.addr).Upgrade()
	probe.SendJSON(jsonOp("sub", "storm", 0, nil))
	epoch := probe.NextJSON()["epoch"].(string)
	publishN(t, pub, "storm", kept)

	cs := make([]*wstest.Conn, conns)
	for i := range cs {
		cs[i] = wstest.Dial(t, ts.addr).Upgrade()
	}
	var wg sync.WaitGroup
	errs := make(chan string, conns)
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, _ := json.Marshal(subSince("storm", 1, 0, epoch))
			if _, err := c.C.Write(wstest.Frame(ws.OpText, true, b)); err != nil {
				errs <- err.Error()
				return
			}
			var ack struct {
				Op        string `json:"op"`
				Off       uint64 `json:"off"`
				Recovered *bool  `json:"recovered"`
			}
			_, p := c.NextData()
			if json.Unmarshal(p, &ack) != nil || ack.Op != "ack" || ack.Recovered == nil || !*ack.Recovered || ack.Off < kept {
				errs <- fmt.Sprintf("first frame %s, want the ack recovered:true", p)
				return
			}
			for want := uint64(1); want <= kept+live; want++ {
				var m struct {
					Op   string `json:"op"`
					Off  uint64 `json:"off"`
					Data string `json:"data"`
				}
				_, p := c.NextData()
				if json.Unmarshal(p, &m) != nil || m.Op != "msg" || m.Off != want || m.Data != fmt.Sprint("m", want) {
					next := ""
					c.Timeout = time.Second
					for range 4 {
						c.C.SetReadDeadline(time.Now().Add(time.Second))
						h, err := ws.ReadHeader(c.BR)
						if err != nil {
							break
						}
						b := make([]byte, h.Length)
						io.ReadFull(c.BR, b)
						next += string(b) + " "
					}
					errs <- fmt.Sprintf("after ack off %d: %s, want msg off %d; then %s", ack.Off, p, want, next)
					return
				}
			}
		}()
	}
	// Live publications while the resumes are served.
	for i := kept; i < kept+live; i++ {
		pub.SendJSON(jsonOp("pub", "storm", i, fmt.Sprint("m", i+1)))
		expectKV(t, pub.NextJSON(), "op", "ack", "id", i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	// Nothing more for anyone: a ping's pong is the next frame.
	for _, c := range cs[:50] {
		c.SendJSON(map[string]any{"op": "ping", "id": 1})
		expectKV(t, c.NextJSON(), "op", "pong")
	}
}

// TestAttackLeaveDuringReplay: a sub with since (64 to replay) and an
// unsub of the same channel in one write: the replay is written whole,
// then the unsub's ack, and no msg of the channel after it, even while
// publishing goes on. A connection that closes (close frame, or a TCP
// reset) right after such a sub leaves nothing behind: the hub's
// subscriptions and connections return to the bystander's.
func TestAttackLeaveDuringReplay(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{srv: func(c *server.Config) { c.HistorySize = 64 }})
		pub := wstest.Dial(t, ts.addr).Upgrade()
		probe := wstest.Dial(t, ts.addr).Upgrade()
		probe.SendJSON(jsonOp("sub", "rp", 0, nil))
		epoch := probe.NextJSON()["epoch"].(string)
		publishN(t, pub, "rp", 64)
		frameOf := func(v any) []byte { b, _ := json.Marshal(v); return wstest.Frame(ws.OpText, true, b) }

		c := wstest.Dial(t, ts.addr).Upgrade()
		c.Write(append(frameOf(subSince("rp", 1, 0, epoch)), frameOf(jsonOp("unsub", "rp", 2, nil))...))
		expectKV(t, c.NextJSON(), "op", "ack", "id", 1, "off", 64, "recovered", true)
		for off := 1; off <= 64; off++ {
			expectKV(t, c.NextJSON(), "op", "msg", "off", off)
		}
		expectKV(t, c.NextJSON(), "op", "ack", "id", 2)
		publishN(t, pub, "rp", 3)
		for range 3 {
			expectKV(t, probe.NextJSON(), "op", "msg") // the probe (still a member) has them
		}
		c.SendJSON(map[string]any{"op": "ping", "id": 3})
		expectKV(t, c.NextJSON(), "op", "pong", "id", 3)

		for i := range 40 {
			d := wstest.Dial(t, ts.addr).Upgrade()
			b := frameOf(subSince("rp", 1, 0, epoch))
			if i%2 == 0 { // a close frame, then FIN without waiting for the echo
				d.Write(append(b, wstest.Frame(ws.OpClose, true, []byte{0x03, 0xe8})...))
				d.C.Close()
				continue
			}
			d.Write(b)
			d.C.(*net.TCPConn).SetLinger(0)
			d.C.Close() // RST, maybe before the replay is written
		}
		wstest.WaitFor(t, "the leavers gone", func() bool {
			ts.srv.Hub().Flush()
			st := ts.srv.Hub().Stats()
			return st.Subscriptions == 1 && st.Conns == 3
		})
	})
}

// TestAttackEvictionDuringReplay: history memory at its 1 MiB minimum,
// 64 publications of 4 KiB retained on one channel, 20 subscribers
// resuming them while 1,000 other channels' publications evict them. Every
// replayed frame arrives whole and is the publication of its own offset
// (a retained frame is never reused while a replay still queues it), or
// the resume says recovered:false.
func TestAttackEvictionDuringReplay(t *testing.T) {
	ts := startServer(t, "epoll", opts{srv: func(c *server.Config) {
		c.HistorySize, c.HistoryMemory, c.PublishRate = 64, 1<<20, 0
	}})
	pub := wstest.Dial(t, ts.addr).Upgrade()
	probe := wstest.Dial(t, ts.addr).Upgrade()
	probe.SendJSON(jsonOp("sub", "ev", 0, nil))
	epoch := probe.NextJSON()["epoch"].(string)
	big := func(off int) string {
		return fmt.Sprintf("%06d", off) + strings.Repeat(string(rune('a'+off%26)), 4<<10)
	}
	for i := 1; i <= 64; i++ {
		pub.SendJSON(jsonOp("pub", "ev", i, big(i)))
		expectKV(t, pub.NextJSON(), "op", "ack", "id", i)
		expectKV(t, probe.NextJSON(), "op", "msg", "off", i)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 20)
	recovered := make(chan bool, 20)
	for range 20 {
		c := wstest.Dial(t, ts.addr).Upgrade()
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, _ := json.Marshal(subSince("ev", 1, 0, epoch))
			c.C.Write(wstest.Frame(ws.OpText, true, b))
			var ack struct {
				Off       int  `json:"off"`
				Recovered bool `json:"recovered"`
			}
			_, p := c.NextData()
			json.Unmarshal(p, &ack)
			recovered <- ack.Recovered
			if !ack.Recovered {
				return
			}
			for off := 1; off <= ack.Off; off++ {
				var m struct {
					Off  int    `json:"off"`
					Data string `json:"data"`
				}
				_, p := c.NextData()
				if json.Unmarshal(p, &m) != nil || m.Off != off || m.Data != big(off) {
					errs <- fmt.Sprintf("replay: off %d (%d bytes), want off %d intact", m.Off, len(m.Data), off)
					return
				}
			}
		}()
	}
	other := wstest.Dial(t, ts.addr).Upgrade()
	for i := range 1000 { // 1,000 channels: some share ev's stripe, where ev is least recent
		other.SendJSON(jsonOp("pub", fmt.Sprint("evict.", i), i, big(i)[:2<<10]))
		expectKV(t, other.NextJSON(), "op", "ack", "id", i)
	}
	wg.Wait()
	close(errs)
	close(recovered)
	for e := range errs {
		t.Fatal(e)
	}
	n := 0
	for r := range recovered {
		if r {
			n++
		}
	}
	ev := ts.srv.Hub().Stats().HistoryEvicted
	t.Logf("%d of 20 resumes recovered; history evicted %d", n, ev)
	if ev == 0 {
		t.Fatal("nothing evicted: the test did not test eviction")
	}
}
