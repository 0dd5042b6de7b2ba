package server_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/starling-ws/starling/api"
	"github.com/starling-ws/starling/internal/wstest"
)

const apiKey = "api-key-0123456789abcdef"

// startAPI serves the HTTP API for ts's server on a loopback port, as
// `starling serve -api-addr` does, and returns its base URL.
func startAPI(t *testing.T, ts *testServer) string { return startAPIBody(t, ts, 4096) }

// startAPIBody is startAPI with a body limit of maxBody bytes.
func startAPIBody(t *testing.T, ts *testServer, maxBody int) string {
	t.Helper()
	keys, err := api.ParseKeys([]byte("# test\n" + apiKey + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Config{Keys: keys, MaxBody: maxBody, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, ts.srv)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := h.Server(ln.Addr().String())
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return "http://" + ln.Addr().String()
}

// call makes one API request; hdr are "Name: value" pairs. It returns the
// status and the body decoded as JSON or MessagePack by Content-Type.
func call(t *testing.T, method, url, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hdr {
		if h == "" {
			continue
		}
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	cl := http.Client{Timeout: 10 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if resp.Header.Get("Content-Type") == "application/msgpack" {
		err = msgpack.Unmarshal(b, &m)
	} else {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		t.Fatalf("%s %s: body %q: %v", method, url, b, err)
	}
	return resp.StatusCode, m
}

var auth = "Authorization: Bearer " + apiKey

// Every endpoint against the real server, with good and bad keys and
// bodies. A publish through the API reaches subscribers exactly like a pub
// op: the same frames in both encodings, offsets from the same sequence,
// the same publish counter.
func TestAPI(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		w := newWall()
		ts := startServer(t, engine, opts{srv: withTokens(w)})
		base := startAPI(t, ts)
		tok := func(user string) string {
			return bearer(mint(t, claims(w, user, time.Hour, []string{"*"}, []string{"*"})))
		}
		js := ts.upgradeWith(t, "/ws", tok("carol"))
		mp := ts.upgradeWith(t, "/ws", tok("carol"))
		js.SendJSON(jsonOp("sub", "news", 1, nil))
		expectKV(t, js.NextJSON(), "op", "ack", "id", 1)
		mp.SendMP(map[string]any{"op": "sub", "ch": "news", "id": 1})
		expectKV(t, mp.NextMP(), "op", "ack", "id", 1)

		// Keys: none, wrong, other scheme, X-API-Key.
		body := `{"ch":"news","data":{"x":1}}`
		for _, h := range []string{"", "Authorization: Bearer wrong-key-0123456789", "Authorization: Basic " + apiKey, "X-API-Key: nope-0123456789abcdef"} {
			if code, m := call(t, "POST", base+"/api/publish", body, h); code != 401 || m["error"] != "missing or wrong API key" {
				t.Fatalf("key %q: %d %v", h, code, m)
			}
		}
		code, m := call(t, "POST", base+"/api/publish", body, "X-API-Key: "+apiKey)
		if code != 200 || m["off"] != float64(1) {
			t.Fatalf("publish: %d %v", code, m)
		}
		expectKV(t, js.NextJSON(), "op", "msg", "ch", "news", "off", 1, "data", map[string]any{"x": 1.0})
		expectKV(t, mp.NextMP(), "op", "msg", "ch", "news", "off", 1)
		// A pub op continues the same offsets (from a connection of its
		// own: a subscriber's own pub ack and msg may come in either order).
		op := ts.upgradeWith(t, "/ws", tok("paul"))
		op.SendJSON(jsonOp("pub", "news", 2, "op"))
		expectKV(t, op.NextJSON(), "op", "ack", "id", 2, "off", 2)
		expectKV(t, js.NextJSON(), "op", "msg", "off", 2, "data", "op")
		expectKV(t, mp.NextMP(), "op", "msg", "off", 2, "data", "op")
		// MessagePack in, MessagePack out.
		mpBody, _ := msgpack.Marshal(map[string]any{"ch": "news", "data": []byte{1, 2, 3}})
		code, m = call(t, "POST", base+"/api/publish", string(mpBody), auth, "Content-Type: application/msgpack")
		if code != 200 || m["off"] != int8(3) {
			t.Fatalf("msgpack publish: %d %v (%T)", code, m, m["off"])
		}
		expectKV(t, js.NextJSON(), "op", "msg", "off", 3, "data", "AQID")
		expectKV(t, mp.NextMP(), "op", "msg", "off", 3, "data", []byte{1, 2, 3})
		if n := ts.srv.Stats().Publishes; n != 3 {
			t.Fatalf("publishes %d, want 3 (two by the API, one op)", n)
		}

		// Bad bodies: 400 with a reason, 413 over the limit; nothing published.
		for _, bad := range []struct {
			body string
			code int
			want string
		}{
			{`{"ch":"news"`, 400, "malformed JSON body: incomplete"},
			{`{"data":1}`, 400, "ch missing or empty"},
			{`{"ch":"bad name","data":1}`, 400, "ch: invalid channel name (1-128 bytes of A-Z a-z 0-9 _.:@/=-)"},
			{`{"ch":"news"}`, 400, "data missing"},
			{`{"ch":"news","data":1,"extra":2}`, 400, `malformed JSON body: json: unknown field "extra"`},
			{`{"ch":"news","data":1e400}`, 400, ""},
			{`{"ch":"news","data":"` + strings.Repeat("x", 5000) + `"}`, 413, "body larger than 4096 bytes"},
		} {
			code, m := call(t, "POST", base+"/api/publish", bad.body, auth)
			if code != bad.code || (bad.want != "" && m["error"] != bad.want) || m["error"] == "" {
				t.Fatalf("%.40s: %d %v, want %d %q", bad.body, code, m, bad.code, bad.want)
			}
		}

		// Broadcast: every channel, offsets per channel.
		js.SendJSON(jsonOp("sub", "alerts", 3, nil))
		expectKV(t, js.NextJSON(), "op", "ack", "id", 3)
		code, m = call(t, "POST", base+"/api/broadcast", `{"chs":["news","alerts"],"data":"b"}`, auth)
		if code != 200 || len(m["offs"].([]any)) != 2 || m["offs"].([]any)[0] != float64(4) || m["offs"].([]any)[1] != float64(1) {
			t.Fatalf("broadcast: %d %v", code, m)
		}
		for _, want := range []map[string]any{{"ch": "news", "off": 4.0}, {"ch": "alerts", "off": 1.0}} {
			expectKV(t, js.NextJSON(), "op", "msg", "ch", want["ch"], "off", want["off"], "data", "b")
		}
		expectKV(t, mp.NextMP(), "op", "msg", "ch", "news", "off", 4)
		if code, m := call(t, "POST", base+"/api/broadcast", `{"chs":[],"data":1}`, auth); code != 400 || m["error"] != "chs missing or empty" {
			t.Fatalf("empty broadcast: %d %v", code, m)
		}

		// Channels with subscriber counts, by prefix, cut at limit.
		code, m = call(t, "GET", base+"/api/channels", "", auth)
		if code != 200 || m["more"] != false || !sameChannels(m["channels"], map[string]float64{"news": 2, "alerts": 1}) {
			t.Fatalf("channels: %d %v", code, m)
		}
		code, m = call(t, "GET", base+"/api/channels?prefix=al", "", auth)
		if code != 200 || !sameChannels(m["channels"], map[string]float64{"alerts": 1}) {
			t.Fatalf("channels?prefix=al: %d %v", code, m)
		}
		if code, m = call(t, "GET", base+"/api/channels?limit=1", "", auth); code != 200 || m["more"] != true || len(m["channels"].([]any)) != 1 {
			t.Fatalf("channels?limit=1: %d %v", code, m)
		}
		if code, m = call(t, "GET", base+"/api/channels?prefix=bad%20name", "", auth); code != 400 {
			t.Fatalf("channels with a bad prefix: %d %v", code, m)
		}

		// Info: the node's counters.
		code, m = call(t, "GET", base+"/api/info", "", auth)
		if code != 200 || m["connections"] != float64(3) || m["publishes"] != float64(5) || m["channels"] != float64(2) || m["authenticated"] != float64(3) {
			t.Fatalf("info: %d %v", code, m)
		}

		// Disconnect: every connection of that user, with the code; others stay.
		dave := ts.upgradeWith(t, "/ws", tok("dave"))
		for _, bad := range []string{`{"user":""}`, `{"user":"carol","code":1000}`, `{"code":4403}`, `[]`} {
			if code, m := call(t, "POST", base+"/api/disconnect", bad, auth); code != 400 {
				t.Fatalf("disconnect %s: %d %v", bad, code, m)
			}
		}
		if code, m = call(t, "POST", base+"/api/disconnect", `{"user":"carol","code":4403}`, "X-API-Key: bad-key-0123456789ab"); code != 401 {
			t.Fatalf("disconnect with a bad key: %d", code)
		}
		code, m = call(t, "POST", base+"/api/disconnect", `{"user":"carol","code":4403}`, auth)
		if code != 200 || m["closed"] != float64(2) {
			t.Fatalf("disconnect: %d %v", code, m)
		}
		expectCloseReason(t, js, 4403, "disconnected")
		expectCloseReason(t, mp, 4403, "disconnected")
		dave.SendJSON(jsonOp("sub", "news", 1, nil))
		expectKV(t, dave.NextJSON(), "op", "ack", "id", 1)
		if code, m = call(t, "POST", base+"/api/disconnect", `{"user":"dave"}`, auth); code != 200 || m["closed"] != float64(1) {
			t.Fatalf("disconnect without code: %d %v", code, m)
		}
		expectCloseReason(t, dave, 4403, "disconnected")
		if code, m = call(t, "POST", base+"/api/disconnect", `{"user":"carol","code":4000}`, auth); code != 200 || m["closed"] != float64(0) {
			t.Fatalf("disconnect again: %d %v", code, m)
		}

		// Routing: unknown path 404, wrong method 405 with Allow.
		if code, _ := call(t, "GET", base+"/api/nope", "", auth); code != 404 {
			t.Fatalf("unknown path: %d", code)
		}
		if code, _ := call(t, "GET", base+"/api/publish", "", auth); code != 405 {
			t.Fatalf("GET publish: %d", code)
		}
	})
}

// sameChannels compares GET /api/channels' list with want (name: subs).
func sameChannels(list any, want map[string]float64) bool {
	l, ok := list.([]any)
	if !ok || len(l) != len(want) {
		return false
	}
	for _, e := range l {
		m := e.(map[string]any)
		if want[m["ch"].(string)] != m["subs"] {
			return false
		}
	}
	return true
}
