package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/starling-ws/starling/bench/worker"
)

// histServer is a small pub/sub with offsets, one epoch and the whole
// history per channel, replaying since like Starling does (ack, then the
// missed range, then live, under the channel's lock), so that the resume
// scenario's accounting can be checked here without importing the server.
// fault makes it misbehave on purpose: "dup" replays from since.off
// (one offset twice per resume), "skip" never sends since.off+1 to a
// resumed subscriber.
type histServer struct {
	ln    net.Listener
	fault string
	mu    sync.Mutex
	chans map[string]*histChan
}

type histChan struct {
	msgs [][]byte             // msgs[i] is offset i+1
	subs map[*histConn]uint64 // subscriber -> offset it must not receive (0: none)
}

type histConn struct {
	c   net.Conn
	wmu sync.Mutex
}

func (hc *histConn) send(p []byte) {
	hc.wmu.Lock()
	defer hc.wmu.Unlock()
	_ = wsutil.WriteServerMessage(hc.c, ws.OpText, p)
}

func startHistServer(t *testing.T, fault string) *histServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &histServer{ln: ln, fault: fault, chans: map[string]*histChan{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(&histConn{c: c})
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *histServer) ch(name string) *histChan {
	c := s.chans[name]
	if c == nil {
		c = &histChan{subs: map[*histConn]uint64{}}
		s.chans[name] = c
	}
	return c
}

func (s *histServer) serve(hc *histConn) {
	defer hc.c.Close()
	if _, err := ws.Upgrade(hc.c); err != nil {
		return
	}
	defer func() {
		s.mu.Lock()
		for _, c := range s.chans {
			delete(c.subs, hc)
		}
		s.mu.Unlock()
	}()
	r := bufio.NewReader(hc.c)
	for {
		h, p, err := readClientFrame(r)
		if err != nil {
			return
		}
		if h.OpCode != ws.OpText {
			continue
		}
		var op struct {
			Op    string          `json:"op"`
			Ch    string          `json:"ch"`
			ID    json.RawMessage `json:"id"`
			Data  json.RawMessage `json:"data"`
			Since *struct {
				Off   uint64 `json:"off"`
				Epoch string `json:"epoch"`
			} `json:"since"`
		}
		if json.Unmarshal(p, &op) != nil {
			return
		}
		s.mu.Lock()
		c := s.ch(op.Ch)
		cur := uint64(len(c.msgs))
		switch op.Op {
		case "sub":
			ack := `{"op":"ack","id":` + string(op.ID) + `,"off":` + strconv.FormatUint(cur, 10) + `,"epoch":"e1"`
			from, skip := cur+1, uint64(0)
			if op.Since != nil {
				ack += `,"recovered":true`
				from = op.Since.Off + 1
				switch s.fault {
				case "dup":
					from = max(op.Since.Off, 1)
				case "skip":
					skip = op.Since.Off + 1
				}
			}
			hc.send([]byte(ack + "}"))
			for off := from; off <= cur; off++ {
				if off != skip {
					hc.send(c.msgs[off-1])
				}
			}
			c.subs[hc] = skip
		case "pub":
			off := cur + 1
			m := []byte(`{"op":"msg","ch":"` + op.Ch + `","off":` + strconv.FormatUint(off, 10) + `,"data":` + string(op.Data) + `}`)
			c.msgs = append(c.msgs, m)
			for sc, skip := range c.subs {
				if off != skip {
					sc.send(m)
				}
			}
			hc.send([]byte(`{"op":"ack","id":` + string(op.ID) + `,"off":` + strconv.FormatUint(off, 10) + `}`))
		}
		s.mu.Unlock()
	}
}

// The resume scenario over two workers against histServer: a correct
// server gives 0 lost, 0 duplicated and every cut subscriber recovered; a
// server that replays one offset twice, or skips one, is caught exactly
// once per resumed subscriber.
func TestResumeAccounting(t *testing.T) {
	for _, tc := range []struct {
		fault           string
		wantLost, wantD float64
	}{{"", 0, 0}, {"dup", 0, 40}, {"skip", 40, 0}} {
		t.Run("fault="+tc.fault, func(t *testing.T) {
			srv := startHistServer(t, tc.fault)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			o := &Opts{N: 200, Channels: 10, PerWorker: 120, Publishes: 60, PubRate: 300, Size: 64, Fraction: 0.2, Timeout: 50 * time.Second}
			fl, err := worker.StartFleet(ctx, o.N+o.Channels, o.PerWorker)
			if err != nil {
				t.Fatal(err)
			}
			defer fl.Stop()
			s := &session{t: &Target{Addr: srv.ln.Addr().String(), Path: "/ws"}, fl: fl, smp: &Sampler{PID: os.Getpid()}}
			r := newResult("resume", o.N)
			if err := runResume(ctx, o, s, r); err != nil {
				t.Fatal(err)
			}
			f := r.Figures
			if f["cut"] != 40 || f["recovered"] != 40 || f["not_recovered"] != 0 || f["lost"] != tc.wantLost || f["duplicated"] != tc.wantD {
				t.Fatalf("figures %v; rows %v", f, r.Rows)
			}
			if f["recover_max_ms"] <= 0 || f["recover_p50_ms"] > f["recover_max_ms"] {
				t.Fatalf("recovery times %v", f)
			}
		})
	}
}
