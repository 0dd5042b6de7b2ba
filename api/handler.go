package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/gate"
)

// Config is the API's policy; cmd/ fills it from flags.
type Config struct {
	Keys        *Keys        // -api-key-file; required
	MaxBody     int          // request body limit in bytes (-max-message); 413 beyond
	MaxChannels int          // most entries GET /api/channels returns (limit's ceiling); 0: 1000
	Logger      *slog.Logger // nil: slog.Default()
}

// Handler serves the API. It is an http.Handler; Server wraps it in an
// http.Server with timeouts.
type Handler struct {
	b       Backend
	keys    *Keys
	max     int
	maxList int
	log     *slog.Logger
}

// New checks the configuration.
func New(cfg Config, b Backend) (*Handler, error) {
	switch {
	case cfg.Keys == nil || len(cfg.Keys.sums) == 0:
		return nil, errors.New("-api-key-file: no keys (the API refuses to run open)")
	case cfg.MaxBody < 1:
		return nil, fmt.Errorf("api body limit (-max-message) must be >= 1, got %d", cfg.MaxBody)
	case cfg.MaxChannels < 0:
		return nil, fmt.Errorf("api channel list limit must be >= 0, got %d", cfg.MaxChannels)
	case b == nil:
		return nil, errors.New("api: no backend")
	}
	h := &Handler{b: b, keys: cfg.Keys, max: cfg.MaxBody, maxList: cfg.MaxChannels, log: cfg.Logger}
	if h.maxList == 0 {
		h.maxList = 1000
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h, nil
}

// Server is an http.Server for h on addr with bounded time and header
// size, so that slow or oversized clients cannot hold connections or
// memory: 5 s to send the headers (at most 16 KiB), 30 s for the whole
// request and for the response, 120 s idle keep-alive.
func (h *Handler) Server(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelWarn),
	}
}

type route struct {
	method string
	serve  func(h *Handler, w http.ResponseWriter, r *http.Request, enc frame.Enc)
}

var routes = map[string]route{
	"/api/publish":    {http.MethodPost, (*Handler).publish},
	"/api/broadcast":  {http.MethodPost, (*Handler).broadcast},
	"/api/disconnect": {http.MethodPost, (*Handler).disconnect},
	"/api/channels":   {http.MethodGet, (*Handler).channels},
	"/api/info":       {http.MethodGet, (*Handler).info},
}

var (
	errNotFound     = &Error{http.StatusNotFound, "not found"}
	errMethod       = &Error{http.StatusMethodNotAllowed, "method not allowed"}
	errUnauthorized = &Error{http.StatusUnauthorized, "missing or wrong API key"}
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	enc := replyEnc(r)
	rt, ok := routes[r.URL.Path]
	switch {
	case !ok:
		h.fail(w, enc, errNotFound)
	case r.Method != rt.method:
		w.Header().Set("Allow", rt.method)
		h.fail(w, enc, errMethod)
	case !h.keys.Check(apiKey(r)):
		w.Header().Set("WWW-Authenticate", `Bearer realm="starling-api"`)
		h.fail(w, enc, errUnauthorized)
	default:
		rt.serve(h, w, r, enc)
	}
}

// apiKey is the key the request carries: Authorization: Bearer <key>,
// else X-API-Key. An Authorization header of another scheme carries none.
func apiKey(r *http.Request) []byte {
	if a := r.Header.Get("Authorization"); a != "" {
		k, _ := gate.BearerToken([]byte(a))
		return k
	}
	return []byte(strings.TrimSpace(r.Header.Get("X-API-Key")))
}

// isMsgpack reports whether a Content-Type or Accept element names
// MessagePack.
func isMsgpack(mediaType string) bool {
	mt, _, _ := strings.Cut(mediaType, ";")
	switch strings.ToLower(strings.TrimSpace(mt)) {
	case "application/msgpack", "application/x-msgpack", "application/vnd.msgpack":
		return true
	}
	return false
}

// bodyEnc is the request body's encoding: MessagePack if its
// Content-Type says so, JSON otherwise (so `curl -d` works untyped).
func bodyEnc(r *http.Request) frame.Enc {
	if isMsgpack(r.Header.Get("Content-Type")) {
		return frame.MsgPack
	}
	return frame.JSON
}

// replyEnc: MessagePack when the body is MessagePack or Accept names it.
func replyEnc(r *http.Request) frame.Enc {
	if bodyEnc(r) == frame.MsgPack {
		return frame.MsgPack
	}
	for _, a := range r.Header.Values("Accept") {
		for el := range strings.SplitSeq(a, ",") {
			if isMsgpack(el) {
				return frame.MsgPack
			}
		}
	}
	return frame.JSON
}
