package api

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/starling-ws/starling/frame"
	"github.com/vmihailenco/msgpack/v5"
)

// TestAuth: every endpoint refuses a missing or wrong key with 401 and
// never reaches the backend; both header forms of a good key pass.
func TestAuth(t *testing.T) {
	b, srv := newTestAPI(t)
	pub := []byte(`{"ch":"news","data":1}`)
	endpoints := []req{
		{method: "POST", path: "/api/publish", body: pub},
		{method: "POST", path: "/api/broadcast", body: []byte(`{"chs":["a"],"data":1}`)},
		{method: "POST", path: "/api/disconnect", body: []byte(`{"user":"u"}`)},
		{method: "GET", path: "/api/channels"},
		{method: "GET", path: "/api/info"},
	}
	for _, ep := range endpoints {
		for _, key := range []string{"", "nope-nope-nope-nope", "bearer:nope-nope-nope-nope", "bearer:", goodKey + "x", goodKey[:len(goodKey)-1]} {
			r := ep
			r.key = key
			got := do(t, srv, r)
			if got.status != http.StatusUnauthorized || got.hdr.Get("WWW-Authenticate") == "" {
				t.Errorf("%s key %q: %d %q", ep.path, key, got.status, got.body)
			}
		}
		// Basic auth carrying the key is not the Bearer scheme.
		r := ep
		r.key = ""
		hr, _ := http.NewRequest(r.method, srv.URL+r.path, bytes.NewReader(r.body))
		hr.SetBasicAuth(goodKey, "")
		res, err := srv.Client().Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s basic auth: %d", ep.path, res.StatusCode)
		}
	}
	if pubs, discs := b.calls(); len(pubs)+len(discs) != 0 {
		t.Fatalf("backend reached without a key: %v %v", pubs, discs)
	}
	for _, key := range []string{goodKey, "bearer:" + goodKey, "bearer:" + otherKey} {
		for _, ep := range endpoints {
			r := ep
			r.key = key
			if got := do(t, srv, r); got.status != http.StatusOK {
				t.Errorf("%s key %q: %d %s", ep.path, key, got.status, got.body)
			}
		}
	}
}

func TestRouting(t *testing.T) {
	_, srv := newTestAPI(t)
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/api/nope", 404, ""},
		{"POST", "/", 404, ""},
		{"GET", "/api/publish/", 404, ""},
		{"GET", "/api/publish", 405, "POST"},
		{"PUT", "/api/broadcast", 405, "POST"},
		{"DELETE", "/api/disconnect", 405, "POST"},
		{"POST", "/api/channels", 405, "GET"},
		{"HEAD", "/api/info", 405, "GET"},
	} {
		got := do(t, srv, req{method: tc.method, path: tc.path, key: goodKey})
		if got.status != tc.status || got.hdr.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d allow %q, want %d %q", tc.method, tc.path, got.status, got.hdr.Get("Allow"), tc.status, tc.allow)
		}
	}
}

func TestPublish(t *testing.T) {
	b, srv := newTestAPI(t)
	got := do(t, srv, req{method: "POST", path: "/api/publish", key: goodKey, body: []byte(` {"ch":"news","data":{"a":[1, 2.5,"x"]}} `)})
	if got.status != 200 || got.ctype != "application/json" || string(got.body) != `{"off":1}` {
		t.Fatalf("%d %s %s", got.status, got.ctype, got.body)
	}
	// MessagePack in, MessagePack out, the data passed through verbatim.
	data := mp(t, map[string]any{"a": []any{1, "x"}})
	got = do(t, srv, req{method: "POST", path: "/api/publish", key: goodKey, ctype: "application/msgpack",
		body: mp(t, map[string]any{"ch": "news", "data": msgpack.RawMessage(data)})})
	if got.status != 200 || got.ctype != "application/msgpack" {
		t.Fatalf("msgpack: %d %s %q", got.status, got.ctype, got.body)
	}
	if m := decodeResp(t, got); fmt.Sprint(m["off"]) != "2" {
		t.Fatalf("msgpack off %v", m)
	}
	// null data is a value.
	do(t, srv, req{method: "POST", path: "/api/publish", key: goodKey, body: []byte(`{"ch":"n","data":null}`)})
	pubs, _ := b.calls()
	want := []pubCall{{"news", `{"a":[1, 2.5,"x"]}`, frame.JSON}, {"news", string(data), frame.MsgPack}, {"n", "null", frame.JSON}}
	if fmt.Sprint(pubs) != fmt.Sprint(want) {
		t.Fatalf("backend got %q, want %q", pubs, want)
	}
}

// TestBadBodies: each is refused with a reason and never reaches the
// backend.
func TestBadBodies(t *testing.T) {
	b, srv := newTestAPI(t)
	big := []byte(`{"ch":"a","data":"` + strings.Repeat("x", testMax) + `"}`)
	cases := []struct {
		name    string
		path    string
		body    []byte
		ctype   string
		chunked bool
		status  int
		reason  string
	}{
		{"empty", "/api/publish", []byte{}, "", false, 400, "incomplete"},
		{"not JSON", "/api/publish", []byte(`ch=news`), "", false, 400, "malformed JSON body at byte"},
		{"array", "/api/publish", []byte(`[1]`), "", false, 400, "wrong type"},
		{"truncated", "/api/publish", []byte(`{"ch":"a","data":`), "", false, 400, "incomplete"},
		{"trailing", "/api/publish", []byte(`{"ch":"a","data":1} {}`), "", false, 400, "data after the object"},
		{"ch number", "/api/publish", []byte(`{"ch":5,"data":1}`), "", false, 400, "ch: wrong type"},
		{"ch missing", "/api/publish", []byte(`{"data":1}`), "", false, 400, "ch missing"},
		{"ch invalid", "/api/publish", []byte(`{"ch":"a b","data":1}`), "", false, 400, "invalid channel name"},
		{"ch too long", "/api/publish", []byte(`{"ch":"` + strings.Repeat("a", 129) + `","data":1}`), "", false, 400, "invalid channel name"},
		{"data missing", "/api/publish", []byte(`{"ch":"a"}`), "", false, 400, "data missing"},
		{"unknown field", "/api/publish", []byte(`{"ch":"a","data":1,"chan":"b"}`), "", false, 400, "unknown field"},
		{"bad JSON inside data", "/api/publish", []byte(`{"ch":"a","data":{"x":}}`), "", false, 400, "malformed JSON"},
		{"too large by length", "/api/publish", big, "", false, 413, "larger than 2048"},
		{"too large chunked", "/api/publish", big, "", true, 413, "larger than 2048"},
		{"msgpack not a map", "/api/publish", mpOrDie([]any{"a", 1}), "application/msgpack", false, 400, "want a map"},
		{"msgpack truncated", "/api/publish", mpOrDie(map[string]any{"ch": "a", "data": "xyz"})[:10], "application/msgpack", false, 400, "malformed MessagePack"},
		{"msgpack trailing", "/api/publish", append(mpOrDie(map[string]any{"ch": "a", "data": 1}), 0xc0), "application/msgpack", false, 400, "not one complete map"},
		{"msgpack ch wrong type", "/api/publish", mpOrDie(map[string]any{"ch": 5, "data": 1}), "application/msgpack", false, 400, "malformed MessagePack"},
		{"msgpack ext data", "/api/publish", append(mpOrDie(map[string]any{"ch": "a"})[:0:0], 0x82, 0xa2, 'c', 'h', 0xa1, 'a', 0xa4, 'd', 'a', 't', 'a', 0xd4, 1, 2), "application/msgpack", false, 400, "not representable in JSON"},
		{"msgpack unknown field", "/api/publish", mpOrDie(map[string]any{"ch": "a", "data": 1, "x": 1}), "application/msgpack", false, 400, "unknown field"},
		{"msgpack data missing", "/api/publish", mpOrDie(map[string]any{"ch": "a"}), "application/x-msgpack", false, 400, "data missing"},
		// A 5-byte array header claiming ~a million elements is refused
		// before the library allocates for them (see decode).
		{"msgpack huge declared array", "/api/broadcast", []byte{0x81, 0xa3, 'c', 'h', 's', 0xdd, 0x00, 0x0f, 0x42, 0x3f}, "application/msgpack", false, 400, "malformed MessagePack"},
		{"broadcast empty chs", "/api/broadcast", []byte(`{"chs":[],"data":1}`), "", false, 400, "chs missing or empty"},
		{"broadcast chs not a list", "/api/broadcast", []byte(`{"chs":"a","data":1}`), "", false, 400, "chs: wrong type"},
		{"broadcast one invalid", "/api/broadcast", []byte(`{"chs":["a","b c"],"data":1}`), "", false, 400, "chs[1]: invalid channel name"},
		{"disconnect no user", "/api/disconnect", []byte(`{"code":4403}`), "", false, 400, "user missing"},
		{"disconnect code low", "/api/disconnect", []byte(`{"user":"u","code":1000}`), "", false, 400, "4000-4999"},
		{"disconnect code high", "/api/disconnect", []byte(`{"user":"u","code":5000}`), "", false, 400, "4000-4999"},
		{"disconnect code string", "/api/disconnect", []byte(`{"user":"u","code":"4403"}`), "", false, 400, "code: wrong type"},
		{"disconnect user too long", "/api/disconnect", []byte(`{"user":"` + strings.Repeat("u", 1025) + `"}`), "", false, 400, "longer than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := do(t, srv, req{method: "POST", path: tc.path, key: goodKey, body: tc.body, ctype: tc.ctype, chunked: tc.chunked})
			if got.status != tc.status {
				t.Fatalf("status %d, want %d (%q)", got.status, tc.status, got.body)
			}
			m := decodeResp(t, got)
			if msg, _ := m["error"].(string); !strings.Contains(msg, tc.reason) {
				t.Fatalf("reason %q, want it to contain %q", msg, tc.reason)
			}
		})
	}
	if pubs, discs := b.calls(); len(pubs)+len(discs) != 0 {
		t.Fatalf("bad bodies reached the backend: %v %v", pubs, discs)
	}
	// The limit is exact: a body of exactly testMax bytes is read.
	exact := []byte(`{"ch":"a","data":"` + strings.Repeat("x", testMax-20) + `"}`)
	if len(exact) != testMax {
		t.Fatalf("test body is %d bytes", len(exact))
	}
	for _, chunked := range []bool{false, true} {
		if got := do(t, srv, req{method: "POST", path: "/api/publish", key: goodKey, body: exact, chunked: chunked}); got.status != 200 {
			t.Fatalf("body of exactly the limit (chunked %v): %d %s", chunked, got.status, got.body)
		}
	}
}

func mpOrDie(v any) []byte {
	b, err := msgpack.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestBackendErrors: typed refusals keep their status and reason; any
// other error is a 500 that does not leak its text.
func TestBackendErrors(t *testing.T) {
	b, srv := newTestAPI(t)
	b.failOn["full"] = &Error{Status: 429, Msg: "fan-out queue full"}
	b.failOn["bus"] = fmt.Errorf("wrapped: %w", &Error{Status: 503, Msg: "cluster bus unavailable"})
	b.failOn["conv"] = &Error{Status: 400, Msg: "data not representable in MessagePack"}
	b.failOn["big"] = &Error{Status: 413, Msg: "converted data too large"}
	b.failOn["odd"] = &Error{Status: 418, Msg: "teapot"}
	b.failOn["boom"] = errors.New("secret internal detail")
	for ch, want := range map[string]struct {
		status int
		msg    string
	}{
		"full": {429, "fan-out queue full"}, "bus": {503, "cluster bus unavailable"},
		"conv": {400, "data not representable in MessagePack"}, "big": {413, "converted data too large"},
		"odd": {500, "internal error"}, "boom": {500, "internal error"},
	} {
		got := do(t, srv, req{method: "POST", path: "/api/publish", key: goodKey, body: []byte(`{"ch":"` + ch + `","data":1}`)})
		if m := decodeResp(t, got); got.status != want.status || m["error"] != want.msg {
			t.Errorf("%s: %d %v, want %d %q", ch, got.status, m, want.status, want.msg)
		}
	}
}

func TestBroadcast(t *testing.T) {
	b, srv := newTestAPI(t)
	got := do(t, srv, req{method: "POST", path: "/api/broadcast", key: goodKey, body: []byte(`{"chs":["a","b","c"],"data":"hi"}`)})
	if got.status != 200 || string(got.body) != `{"offs":[1,2,3]}` {
		t.Fatalf("%d %s", got.status, got.body)
	}
	// A refusal stops the broadcast; the reply says what was published.
	b.failOn["c"] = &Error{Status: 429, Msg: "fan-out queue full"}
	got = do(t, srv, req{method: "POST", path: "/api/broadcast", key: goodKey, ctype: "application/msgpack",
		body: mp(t, map[string]any{"chs": []string{"a", "b", "c", "d"}, "data": "hi"})})
	m := decodeResp(t, got)
	if got.status != 429 || m["error"] != "fan-out queue full" || fmt.Sprint(m["offs"]) != "[4 5]" {
		t.Fatalf("partial: %d %v", got.status, m)
	}
	pubs, _ := b.calls()
	if len(pubs) != 5 || pubs[4].ch != "b" || pubs[4].enc != frame.MsgPack {
		t.Fatalf("backend got %v", pubs)
	}
}

func TestDisconnect(t *testing.T) {
	b, srv := newTestAPI(t)
	for body, want := range map[string]string{`{"user":"alice","code":4001}`: "alice/4001", `{"user":"bob"}`: "bob/4403"} {
		got := do(t, srv, req{method: "POST", path: "/api/disconnect", key: goodKey, body: []byte(body)})
		if got.status != 200 || string(got.body) != `{"closed":2}` {
			t.Fatalf("%s: %d %s", body, got.status, got.body)
		}
		if _, discs := b.calls(); discs[len(discs)-1] != want {
			t.Fatalf("backend got %v, want %s last", discs, want)
		}
	}
}

func TestChannelsAndInfo(t *testing.T) {
	b, srv := newTestAPI(t)
	b.chans = []ChannelInfo{{"room.1", 3}, {"room.2", 1}, {"lobby", 9}, {"room.3", 0}}
	for _, tc := range []struct {
		query, want string
		status      int
	}{
		{"", `{"channels":[{"ch":"room.1","subs":3},{"ch":"room.2","subs":1},{"ch":"lobby","subs":9}],"more":true}`, 200},
		{"?prefix=room.&limit=2", `{"channels":[{"ch":"room.1","subs":3},{"ch":"room.2","subs":1}],"more":true}`, 200},
		{"?prefix=lob", `{"channels":[{"ch":"lobby","subs":9}],"more":false}`, 200},
		{"?prefix=zzz", `{"channels":[],"more":false}`, 200},
		{"?prefix=a%20b", "", 400},
		{"?limit=0", "", 400},
		{"?limit=4", "", 400}, // above MaxChannels (3)
		{"?limit=x", "", 400},
	} {
		got := do(t, srv, req{method: "GET", path: "/api/channels" + tc.query, key: goodKey})
		if got.status != tc.status || tc.want != "" && string(got.body) != tc.want {
			t.Errorf("%s: %d %s", tc.query, got.status, got.body)
		}
	}
	got := do(t, srv, req{method: "GET", path: "/api/channels?prefix=room.", key: goodKey, accept: "text/html, application/msgpack;q=0.9"})
	if m := decodeResp(t, got); got.ctype != "application/msgpack" || len(m["channels"].([]any)) != 3 {
		t.Fatalf("msgpack channels: %s %v", got.ctype, m)
	}
	got = do(t, srv, req{method: "GET", path: "/api/info", key: goodKey})
	if got.status != 200 || string(got.body) != `{"conns":7,"pubs":9}` {
		t.Fatalf("info: %d %s", got.status, got.body)
	}
	got = do(t, srv, req{method: "GET", path: "/api/info", key: goodKey, accept: "application/msgpack"})
	if m := decodeResp(t, got); fmt.Sprint(m) != "map[conns:7 pubs:9]" {
		t.Fatalf("msgpack info: %v", m)
	}
}

// TestHostileClients: many concurrent clients with wrong keys and
// oversized bodies get 401/413 while good publishes interleaved with them
// all succeed, in order per client, and only they reach the backend.
func TestHostileClients(t *testing.T) {
	b, srv := newTestAPI(t)
	huge := bytes.Repeat([]byte("x"), 1<<20)
	var wg sync.WaitGroup
	errs := make(chan string, 1000)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 10 {
				var r req
				var want int
				switch i % 4 {
				case 0:
					r, want = req{method: "POST", path: "/api/publish", key: "wrong-wrong-wrong-wrong", body: []byte(`{"ch":"a","data":1}`)}, 401
				case 1:
					r, want = req{method: "POST", path: "/api/publish", key: goodKey, body: huge, chunked: true}, 413
				case 2:
					r, want = req{method: "POST", path: "/api/publish", key: goodKey, body: huge}, 413
				case 3:
					r, want = req{method: "POST", path: "/api/publish", key: goodKey, body: fmt.Appendf(nil, `{"ch":"good","data":%d}`, j)}, 200
				}
				if got := do(t, srv, r); got.status != want {
					errs <- fmt.Sprintf("client %d: %d, want %d", i, got.status, want)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	pubs, _ := b.calls()
	if len(pubs) != 100 {
		t.Fatalf("%d publishes reached the backend, want the 100 good ones", len(pubs))
	}
	for _, p := range pubs {
		if p.ch != "good" {
			t.Fatalf("a bad request reached the backend: %v", p)
		}
	}
}

func TestKeysFile(t *testing.T) {
	k, err := ParseKeys([]byte("# comment\n\n  " + goodKey + "\r\n#" + otherKey + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !k.Check([]byte(goodKey)) || k.Check([]byte(otherKey)) || k.Check(nil) || k.Check([]byte("#"+otherKey)) {
		t.Fatal("Check")
	}
	for _, bad := range []string{"", "# only comments\n\n", "short\n", goodKey + "\nab cd ef gh ij kl mn\n"} {
		if _, err := ParseKeys([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := ParseKeys([]byte(goodKey + "\nshort")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("error should name the line: %v", err)
	}
	if _, err := LoadKeys("/nonexistent/keys"); err == nil || !strings.Contains(err.Error(), "-api-key-file") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := New(Config{MaxBody: 10}, &fakeBackend{}); err == nil {
		t.Error("New without keys")
	}
}
