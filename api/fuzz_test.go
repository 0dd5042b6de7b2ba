package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/starling-ws/starling/frame"
)

// FuzzBodies posts arbitrary bodies, as JSON or MessagePack, to the three
// POST endpoints. The answer must be 200, 400 or 413 in the request's
// encoding, and whatever reaches the backend must be valid: a channel
// name frame accepts, one well-formed value of data in the body's
// encoding, a close code in 4000-4999.
func FuzzBodies(f *testing.F) {
	f.Add(uint8(0), false, []byte(`{"ch":"news","data":{"a":[1,2]}}`))
	f.Add(uint8(1), false, []byte(`{"chs":["a","b"],"data":"x"}`))
	f.Add(uint8(2), false, []byte(`{"user":"u","code":4001}`))
	f.Add(uint8(0), true, mpOrDie(map[string]any{"ch": "news", "data": []any{1, "x", nil}}))
	f.Add(uint8(1), true, mpOrDie(map[string]any{"chs": []string{"a"}, "data": map[string]any{"k": 1.5}}))
	f.Add(uint8(2), true, mpOrDie(map[string]any{"user": "u", "code": 4403}))
	f.Add(uint8(0), false, []byte(`{"ch":"a","data":`+strings.Repeat("[", 3000)+`}`))
	keys, err := ParseKeys([]byte(goodKey))
	if err != nil {
		f.Fatal(err)
	}
	b := &fakeBackend{failOn: map[string]error{}}
	h, err := New(Config{Keys: keys, MaxBody: 4096, Logger: slog.New(slog.DiscardHandler)}, b)
	if err != nil {
		f.Fatal(err)
	}
	paths := []string{"/api/publish", "/api/broadcast", "/api/disconnect"}
	f.Fuzz(func(t *testing.T, which uint8, useMsgpack bool, body []byte) {
		b.mu.Lock()
		b.pubs, b.discs = b.pubs[:0], b.discs[:0]
		b.mu.Unlock()
		r := httptest.NewRequest("POST", paths[int(which)%len(paths)], bytes.NewReader(body))
		r.Header.Set("X-API-Key", goodKey)
		want := "application/json"
		if useMsgpack {
			r.Header.Set("Content-Type", "application/msgpack")
			want = "application/msgpack"
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != want {
			t.Fatalf("reply %s to a %s body", ct, want)
		}
		pubs, discs := b.calls()
		if w.Code != http.StatusOK && len(pubs)+len(discs) > 0 {
			t.Fatalf("%d, yet the backend was called: %v %v", w.Code, pubs, discs)
		}
		for _, p := range pubs {
			if !frame.ValidChannel([]byte(p.ch)) {
				t.Fatalf("invalid channel %q reached the backend", p.ch)
			}
			ok := false
			if p.enc == frame.JSON {
				ok = !useMsgpack && json.Valid([]byte(p.data))
			} else {
				_, err := frame.TranscodedLen([]byte(p.data), frame.MsgPack, 1<<30)
				ok = useMsgpack && err == nil
			}
			if !ok {
				t.Fatalf("data %q (enc %d) reached the backend", p.data, p.enc)
			}
		}
		for _, d := range discs {
			user, code, _ := strings.Cut(d, "/")
			if user == "" || code < "4000" || code > "4999" || len(code) != 4 {
				t.Fatalf("disconnect %q reached the backend", d)
			}
		}
	})
}
