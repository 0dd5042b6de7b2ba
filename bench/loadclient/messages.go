package loadclient

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/bench/worker"
	"github.com/starling-ws/starling/internal/wsframe"
)

// What a worker's connections do with a server frame: answer pings and
// closes as RFC 6455 asks, count acks and errors, and take the latency of
// every push from the send time its data carries.

// frame acts on one complete server frame.
func (cl *client) frame(cc *cconn, op ws.OpCode, p []byte) {
	switch op {
	case ws.OpPing:
		cl.pings.Add(1)
		var tmp [140]byte
		_ = cc.c.WriteCopy(wsframe.AppendClient(tmp[:0], ws.OpPong, true, p))
	case ws.OpClose:
		var tmp [140]byte
		if len(p) >= 2 {
			p = p[:2]
		}
		cc.c.CloseAfter(wsframe.AppendClient(tmp[:0], ws.OpClose, true, p))
	case ws.OpText, ws.OpBinary, ws.OpContinuation:
		cl.message(p)
		if cc.stream != nil {
			cl.track(cc, p)
		}
	}
}

var (
	keyOpMsg = []byte(`"op":"msg"`)
	keyOpAck = []byte(`"op":"ack"`)
	keyOpErr = []byte(`"op":"err"`)
	keyData  = []byte(`"data":`)
	keyID1   = []byte(`"id":1}`)
	keyID1c  = []byte(`"id":1,`)
	keyIDOwn = []byte(`"id":"own"`) // the sub of a channel of its own (Cmd.Own); pub ids are numbers
)

// message classifies a JSON reply or push. A push's data is the string
// "<seq>:<unix ns sent>:<padding>" written by publish.
func (cl *client) message(p []byte) {
	switch {
	case bytes.Contains(p, keyOpMsg):
		cl.msgs.Add(1)
		seq, d, ok1 := dataSeq(p)
		sent, _, ok2 := leadingInt(d)
		if !ok1 || !ok2 {
			return
		}
		lat := time.Now().UnixNano() - sent
		if lat < 0 {
			lat = 0
		}
		us := lat / 1000
		if us < 1 {
			us = 1
		}
		seq -= cl.seqBase.Load()
		cl.mu.Lock()
		_ = cl.hist.RecordValue(min(us, worker.HistMaxMicros))
		if seq >= 0 && seq < int64(len(cl.last)) {
			cl.got[seq]++
			if lat > cl.last[seq] {
				cl.last[seq] = lat
			}
		}
		cl.mu.Unlock()
	case bytes.Contains(p, keyOpAck):
		if bytes.Contains(p, keyID1) || bytes.Contains(p, keyID1c) || bytes.Contains(p, keyIDOwn) {
			cl.subacks.Add(1)
		} else {
			cl.pubacks.Add(1)
		}
	case bytes.Contains(p, keyOpErr):
		cl.errReplies.Add(1)
	}
}

// dataSeq reads the sequence at the start of a push's data (a string
// "<seq>:..."), and returns what follows it.
func dataSeq(p []byte) (int64, []byte, bool) {
	i := bytes.Index(p, keyData)
	if i < 0 {
		return 0, nil, false
	}
	d := bytes.TrimLeft(p[i+len(keyData):], " ")
	if len(d) == 0 || d[0] != '"' {
		return 0, nil, false
	}
	return leadingInt(d[1:])
}

// leadingInt parses digits up to a ':' and returns what follows it.
func leadingInt(b []byte) (int64, []byte, bool) {
	var v int64
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		v = v*10 + int64(b[i]-'0')
		i++
	}
	if i == 0 || i >= len(b) || b[i] != ':' {
		return 0, b, false
	}
	return v, b[i+1:], true
}

// padWords make a publish's padding read like chat text, so that it
// compresses as real JSON text does (about 2-3x under deflate) rather than
// as one repeated byte would (hundreds of times: `bench -compress` would
// then report a saving no deployment sees).
var padWords = strings.Fields(`the a to and of you i it is that in for on this have be with are not just so was
but we can what do at if all me my like get your up out about know will one there think they now good how when
time see going lol yeah ok thanks really back today tomorrow meeting deploy build release fixed bug issue please
check link here later great nice sure maybe need send done ready waiting coffee lunch weekend team update review`)

// appendPad appends words picked by a generator seeded with seq until
// len(p)-from is size, cutting the last word.
func appendPad(p []byte, from, size int, seq int64) []byte {
	x := uint64(seq)*0x9e3779b97f4a7c15 + 1
	for len(p)-from < size {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		w := padWords[x%uint64(len(padWords))]
		p = append(p, w[:min(len(w), size-(len(p)-from))]...)
		if len(p)-from < size {
			p = append(p, ' ')
		}
	}
	return p
}

// appendPub builds a masked publish frame whose data string is exactly
// size bytes (at least the "<seq>:<ns>:" prefix, then words) and carries
// the send time.
func appendPub(dst []byte, ch string, seq, id int64, size int, sent int64) []byte {
	var tmp [64 << 10]byte
	p := append(tmp[:0], `{"op":"pub","ch":"`...)
	p = append(p, ch...)
	p = append(p, `","data":"`...)
	d0 := len(p)
	p = strconv.AppendInt(p, seq, 10)
	p = append(p, ':')
	p = strconv.AppendInt(p, sent, 10)
	p = append(p, ':')
	p = appendPad(p, d0, size, seq)
	p = append(p, `","id":`...)
	p = strconv.AppendInt(p, id, 10)
	p = append(p, '}')
	return wsframe.AppendClient(dst, ws.OpText, true, p)
}
