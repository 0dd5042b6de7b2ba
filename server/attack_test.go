package server_test

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/poller"
	"github.com/starling-ws/starling/server"
)

// Regression tests for what an attacker found (issue 14).

// TestSplitHandshakeAcceptUnderConcurrency (issue 14 item 1): handshakes
// split over two reads are buffered in pooled buffers; the key must not be
// read from a buffer already given back to the pool, where another loop may
// be writing the next connection's request. 32 clients each run split
// handshakes back to back on a server with 4 loops, so that buffering and
// completions interleave across loops; each must get the
// Sec-WebSocket-Accept of its own key. On the old code this fails under
// -race (the detector reports the pool buffer written by one loop while
// another reads the key from it) and, more rarely, with a wrong accept.
func TestSplitHandshakeAcceptUnderConcurrency(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{eng: func(c *poller.Config) { c.Loops = 4 }})
		const clients, each = 32, 40
		var wg sync.WaitGroup
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range each {
					if err := splitHandshake(ts); err != nil {
						t.Errorf("client %d handshake %d: %v", i, k, err)
						return
					}
				}
			}()
		}
		wg.Wait()
	})
}

// splitHandshake sends an upgrade request in two parts, the first ending
// inside the key, the second only once the server has read at least as
// many bytes as the first (so it is buffered), and checks the accept.
func splitHandshake(ts *testServer) error {
	var raw [16]byte
	rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	first := "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key[:10]
	before := ts.srv.Stats().BytesIn
	if _, err := c.Write([]byte(first)); err != nil {
		return err
	}
	for deadline := time.Now().Add(10 * time.Second); ts.srv.Stats().BytesIn < before+uint64(len(first)); {
		if time.Now().After(deadline) {
			return fmt.Errorf("first part not read")
		}
		time.Sleep(50 * time.Microsecond)
	}
	if _, err := c.Write([]byte(key[10:] + "\r\n\r\n")); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	n, err := readHead(c, buf)
	if err != nil {
		return err
	}
	if want := "Sec-WebSocket-Accept: " + acceptOf(key) + "\r\n"; !contains(buf[:n], want) {
		return fmt.Errorf("response %q lacks %q", buf[:n], want)
	}
	return nil
}

func acceptOf(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// readHead reads until the end of an HTTP response head.
func readHead(c net.Conn, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := c.Read(buf[n:])
		n += k
		if contains(buf[:n], "\r\n\r\n") {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	return n, fmt.Errorf("response head over %d bytes", len(buf))
}

func contains(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return true
		}
	}
	return false
}

// TestDrainDeliversAckedPublishes (issue 14 item 4): every publish acked
// before the drain starts reaches every subscriber before its 1001.
func TestDrainDeliversAckedPublishes(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{srv: func(c *server.Config) { c.PublishRate = 0 }})
		const subs, pubs = 1000, 300
		readers := make([]*wstest.Conn, subs)
		for i := range readers {
			c := wstest.Dial(t, ts.addr).Upgrade()
			c.SendJSON(jsonOp("sub", "drain", 1, nil))
			readers[i] = c
		}
		for _, c := range readers {
			expectKV(t, c.NextJSON(), "op", "ack", "id", 1)
		}
		pub := wstest.Dial(t, ts.addr).Upgrade()
		for i := range pubs {
			pub.SendJSON(jsonOp("pub", "drain", i, i))
		}
		for i := range pubs {
			expectKV(t, pub.NextJSON(), "op", "ack", "id", i)
		}
		// Every publish is acked: now drain.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		drained := make(chan error, 1)
		go func() { drained <- ts.srv.Drain(ctx) }()
		var wg sync.WaitGroup
		errs := make(chan string, subs)
		for k, c := range readers {
			c.Timeout = time.Minute // each waits up to half the drain window for its 1001
			wg.Add(1)
			go func() {
				defer wg.Done()
				next := 0
				for {
					h, p := c.Next()
					switch h.OpCode {
					case ws.OpText:
						next++
					case ws.OpClose:
						if next != pubs {
							errs <- fmt.Sprintf("subscriber %d: 1001 after %d of %d acked publishes", k, next, pubs)
						}
						c.Send(ws.OpClose, true, p[:2])
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		n := 0
		for e := range errs {
			if n < 5 {
				t.Error(e)
			}
			n++
		}
		if n > 0 {
			t.Fatalf("%d of %d subscribers missed acked publishes before their 1001", n, subs)
		}
		if err := <-drained; err != nil {
			t.Fatalf("drain: %v", err)
		}
	})
}

// TestConvertedPublishBounded (issue 14 item 2): a MessagePack pub within
// -max-message whose data would grow past it as JSON (control bytes each
// become \u00XX) gets err 413, and one whose strings are not UTF-8 (each
// 0xff used to become \ufffd) gets err 400; neither reaches anyone, and a
// JSON subscriber reading normally is not closed as slow.
func TestConvertedPublishBounded(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{})
		sub := wstest.Dial(t, ts.addr).Upgrade()
		sub.SendJSON(jsonOp("sub", "big", 1, nil))
		expectKV(t, sub.NextJSON(), "op", "ack", "id", 1)
		pub := wstest.Dial(t, ts.addr).Upgrade()
		for _, c := range []struct {
			fill byte
			code int
		}{{0x01, 413}, {0xff, 400}} {
			s := make([]byte, 65502)
			for i := range s {
				s[i] = c.fill
			}
			pub.SendMP(map[string]any{"op": "pub", "ch": "big", "id": int(c.fill), "data": string(s)})
			expectKV(t, pub.NextMP(), "op", "err", "id", int(c.fill), "code", c.code)
		}
		// The subscriber is fine and gets the next publish.
		pub.SendJSON(jsonOp("pub", "big", 9, "small"))
		expectKV(t, pub.NextJSON(), "op", "ack", "id", 9, "off", 1)
		expectKV(t, sub.NextJSON(), "op", "msg", "off", 1, "data", "small")
		if n := ts.srv.Stats().SlowConsumers; n != 0 {
			t.Fatalf("%d slow-consumer closes", n)
		}
	})
}

// TestRegisteredCloseCodesEchoed (issue 14 item 6): 1012, 1013 and 1014 are
// registered (IANA) close codes and are echoed like 1000, not answered 1002.
func TestRegisteredCloseCodesEchoed(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{})
		for _, code := range []uint16{1012, 1013, 1014} {
			c := wstest.Dial(t, ts.addr).Upgrade()
			c.Send(ws.OpClose, true, []byte{byte(code >> 8), byte(code)})
			c.ExpectClose(ws.StatusCode(code))
		}
	})
}

// TestAckBeforeMsg (issue 9): a sub's ack reaches the subscriber before any
// msg of the channel, however fast the channel is publishing, and the msgs
// after it are exactly ack.off+1, +2, ...
func TestAckBeforeMsg(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{srv: func(c *server.Config) { c.PublishRate = 0 }})
		pub := wstest.Dial(t, ts.addr).Upgrade()
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				pub.SendJSON(map[string]any{"op": "pub", "ch": "fast", "data": i})
			}
		}()
		for k := range 20 {
			c := wstest.Dial(t, ts.addr).Upgrade()
			c.SendJSON(jsonOp("sub", "fast", k, nil))
			ack := c.NextJSON()
			expectKV(t, ack, "op", "ack", "id", k)
			next := uint64(ack["off"].(float64)) + 1
			for range 5 {
				m := c.NextJSON()
				if m["op"] != "msg" || uint64(m["off"].(float64)) != next {
					t.Fatalf("subscriber %d (ack at %d): got %v, want msg off %d", k, next-1, m, next)
				}
				next++
			}
			c.C.Close()
		}
		close(stop)
		<-done
	})
}
