package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/starling-ws/starling/frame"
	"github.com/vmihailenco/msgpack/v5"
)

const (
	goodKey  = "k-0123456789abcdef"
	otherKey = "k-fedcba9876543210"
	testMax  = 2048
)

type pubCall struct {
	ch, data string
	enc      frame.Enc
}

// fakeBackend records what reaches it; failOn makes Publish refuse a
// channel with the given error.
type fakeBackend struct {
	mu     sync.Mutex
	pubs   []pubCall
	discs  []string
	off    uint64
	failOn map[string]error
	chans  []ChannelInfo
	lastN  int
}

func (b *fakeBackend) Publish(ch, data []byte, enc frame.Enc) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.failOn[string(ch)]; err != nil {
		return 0, err
	}
	b.pubs = append(b.pubs, pubCall{string(ch), string(data), enc})
	b.off++
	return b.off, nil
}

func (b *fakeBackend) Disconnect(user string, code uint16) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.discs = append(b.discs, user+"/"+itoa(int(code)))
	return 2
}

func (b *fakeBackend) Channels(prefix string, limit int) []ChannelInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastN = limit
	var out []ChannelInfo
	for _, c := range b.chans {
		if strings.HasPrefix(c.Ch, prefix) && len(out) < limit {
			out = append(out, c)
		}
	}
	return out
}

type info struct {
	Conns int `json:"conns"`
	Pubs  int `json:"pubs"`
}

func (b *fakeBackend) Info() any { return info{Conns: 7, Pubs: 9} }

func (b *fakeBackend) calls() (pubs []pubCall, discs []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]pubCall(nil), b.pubs...), append([]string(nil), b.discs...)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// newTestAPI serves a Handler on a real loopback listener.
func newTestAPI(t testing.TB) (*fakeBackend, *httptest.Server) {
	t.Helper()
	keys, err := ParseKeys([]byte("# test keys\n\n" + goodKey + "\n  " + otherKey + "  \n"))
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBackend{failOn: map[string]error{}}
	h, err := New(Config{Keys: keys, MaxBody: testMax, MaxChannels: 3, Logger: slog.New(slog.DiscardHandler)}, b)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return b, srv
}

type req struct {
	method, path string
	body         []byte
	ctype        string
	key          string // "" none; "bearer:..." for Authorization
	accept       string
	chunked      bool // hide the length (Transfer-Encoding: chunked)
}

type resp struct {
	status int
	ctype  string
	body   []byte
	hdr    http.Header
}

func do(t testing.TB, srv *httptest.Server, r req) resp {
	t.Helper()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
		if r.chunked {
			body = io.MultiReader(body) // not a *bytes.Reader: no ContentLength
		}
	}
	hr, err := http.NewRequest(r.method, srv.URL+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.ctype != "" {
		hr.Header.Set("Content-Type", r.ctype)
	}
	if r.accept != "" {
		hr.Header.Set("Accept", r.accept)
	}
	switch {
	case strings.HasPrefix(r.key, "bearer:"):
		hr.Header.Set("Authorization", "Bearer "+strings.TrimPrefix(r.key, "bearer:"))
	case r.key != "":
		hr.Header.Set("X-API-Key", r.key)
	}
	res, err := srv.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatal(err)
	}
	return resp{res.StatusCode, res.Header.Get("Content-Type"), b, res.Header}
}

// decodeResp decodes a JSON or MessagePack response by its Content-Type.
func decodeResp(t testing.TB, r resp) map[string]any {
	t.Helper()
	var m map[string]any
	var err error
	switch r.ctype {
	case "application/json":
		d := json.NewDecoder(bytes.NewReader(r.body))
		d.UseNumber()
		err = d.Decode(&m)
	case "application/msgpack":
		err = msgpack.Unmarshal(r.body, &m)
	default:
		t.Fatalf("content type %q, body %q", r.ctype, r.body)
	}
	if err != nil {
		t.Fatalf("%s body %q: %v", r.ctype, r.body, err)
	}
	return m
}

func mp(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
