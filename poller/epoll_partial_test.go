//go:build linux

package poller

import (
	"bytes"
	"encoding/binary"
	"math/rand"
	"net"
	"sync"
	"testing"
	"time"
)

// reasm reassembles a stream of length-prefixed messages (2-byte big-endian
// length, then the payload) from arbitrary cuts, the way a frame parser
// must: whole messages are taken from b directly, a partial tail is carried.
type reasm struct {
	mu   sync.Mutex
	tail []byte
	msgs [][]byte
}

func (r *reasm) feed(b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	in := b
	if len(r.tail) > 0 {
		r.tail = append(r.tail, b...)
		in = r.tail
	}
	for len(in) >= 2 {
		n := int(binary.BigEndian.Uint16(in))
		if len(in) < 2+n {
			break
		}
		r.msgs = append(r.msgs, append([]byte(nil), in[2:2+n]...))
		in = in[2+n:]
	}
	r.tail = append(r.tail[:0:0], in...)
	for i := range b { // the handler may scribble on the engine's buffer
		b[i] = 0xA5
	}
}

// runPartial sends a random message stream cut by random-size writes to an
// epoll engine whose read buffer is readBuf bytes, and checks the handler
// reassembles exactly the messages sent.
func runPartial(t *testing.T, seed int64, readBuf int) {
	t.Helper()
	rng := rand.New(rand.NewSource(seed))
	var msgs [][]byte
	var stream []byte
	for i, n := 0, 1+rng.Intn(200); i < n; i++ {
		m := make([]byte, rng.Intn(3000))
		rng.Read(m)
		msgs = append(msgs, m)
		stream = binary.BigEndian.AppendUint16(stream, uint16(len(m)))
		stream = append(stream, m...)
	}
	r := newRecorder()
	r.onData = func(c *Conn, b []byte) { c.Ctx.(*reasm).feed(b) }
	var ra *reasm
	r.onOpen = func(c *Conn) { ra = &reasm{}; c.Ctx = ra }
	e := startEpoll(t, defaultAcceptMode, Config{ReadBuffer: readBuf, Loops: 1}, r)
	nc, err := net.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	for rest := stream; len(rest) > 0; {
		k := 1 + rng.Intn(700)
		if k > len(rest) {
			k = len(rest)
		}
		if _, err := nc.Write(rest[:k]); err != nil {
			t.Fatal(err)
		}
		rest = rest[k:]
		if rng.Intn(8) == 0 {
			time.Sleep(time.Duration(rng.Intn(300)) * time.Microsecond)
		}
	}
	nc.Close()
	epWait(t, "OnClose", 10*time.Second, func() bool { return r.nClose.Load() == 1 })
	ra.mu.Lock()
	defer ra.mu.Unlock()
	if len(ra.tail) != 0 {
		t.Fatalf("seed %d: %d bytes left over", seed, len(ra.tail))
	}
	if len(ra.msgs) != len(msgs) {
		t.Fatalf("seed %d: %d messages, want %d", seed, len(ra.msgs), len(msgs))
	}
	for i := range msgs {
		if !bytes.Equal(ra.msgs[i], msgs[i]) {
			t.Fatalf("seed %d: message %d differs", seed, i)
		}
	}
}

func TestPartialReadReassembly(t *testing.T) {
	f := func(seed int64, readBuf int) {
		t.Helper()
		runPartial(t, seed, readBuf)
	}
	f(1, 1)
	f(2, 7)
	f(3, 100)
	f(4, 4096)
	f(5, 64<<10)
}

func FuzzPartialRead(f *testing.F) {
	f.Add(int64(10), uint16(1))
	f.Add(int64(11), uint16(13))
	f.Add(int64(12), uint16(1500))
	f.Fuzz(func(t *testing.T, seed int64, readBuf uint16) {
		runPartial(t, seed, 1+int(readBuf)%8192)
	})
}
