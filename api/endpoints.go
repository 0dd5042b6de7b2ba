package api

import (
	"net/http"
	"strconv"

	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/gate"
)

type pubReq struct {
	Ch   string `json:"ch"`
	Data raw    `json:"data"`
}

func (q *pubReq) check() *Error {
	if e := checkData(q.Data); e != nil {
		return e
	}
	return checkCh(q.Ch, "ch")
}

type pubResp struct {
	Off uint64 `json:"off"`
}

// publish: POST /api/publish {"ch","data"} -> {"off":N}.
func (h *Handler) publish(w http.ResponseWriter, r *http.Request, enc frame.Enc) {
	var req pubReq
	if !h.read(w, r, enc, &req) {
		return
	}
	off, err := h.b.Publish([]byte(req.Ch), req.Data, bodyEnc(r))
	if err != nil {
		h.fail(w, enc, h.backendError(err))
		return
	}
	h.reply(w, enc, http.StatusOK, pubResp{Off: off})
}

type bcastReq struct {
	Chs  []string `json:"chs"`
	Data raw      `json:"data"`
}

func (q *bcastReq) check() *Error {
	if e := checkData(q.Data); e != nil {
		return e
	}
	if len(q.Chs) == 0 {
		return badRequest("chs missing or empty")
	}
	for i, ch := range q.Chs {
		if e := checkCh(ch, "chs["+strconv.Itoa(i)+"]"); e != nil {
			return e
		}
	}
	return nil
}

type bcastResp struct {
	Offs []uint64 `json:"offs"`
}

// broadcast: POST /api/broadcast {"chs":[...],"data"} -> {"offs":[...]}.
// Every name is checked before anything is published. Publishing stops at
// the first Backend refusal: the reply has its status and, in "offs", the
// offsets of the channels before it (published); the rest were not.
func (h *Handler) broadcast(w http.ResponseWriter, r *http.Request, enc frame.Enc) {
	var req bcastReq
	if !h.read(w, r, enc, &req) {
		return
	}
	offs := make([]uint64, 0, len(req.Chs))
	for _, ch := range req.Chs {
		off, err := h.b.Publish([]byte(ch), req.Data, bodyEnc(r))
		if err != nil {
			e := h.backendError(err)
			h.reply(w, enc, e.Status, errorBody{Error: e.Msg, Offs: offs})
			return
		}
		offs = append(offs, off)
	}
	h.reply(w, enc, http.StatusOK, bcastResp{Offs: offs})
}

type discReq struct {
	User string `json:"user"`
	Code *int   `json:"code"`
}

// check refuses an empty user: it would close every connection whose
// token has no sub.
func (q *discReq) check() *Error {
	switch {
	case q.User == "":
		return badRequest("user missing or empty")
	case len(q.User) > gate.MaxUser:
		return badRequest("user longer than " + strconv.Itoa(gate.MaxUser) + " bytes")
	case q.Code != nil && (*q.Code < 4000 || *q.Code > 4999):
		return badRequest("code must be in 4000-4999")
	}
	return nil
}

type discResp struct {
	Closed int `json:"closed"`
}

// DefaultDisconnectCode is the close code of POST /api/disconnect
// without "code".
const DefaultDisconnectCode = 4403

// disconnect: POST /api/disconnect {"user","code"} -> {"closed":N}.
func (h *Handler) disconnect(w http.ResponseWriter, r *http.Request, enc frame.Enc) {
	var req discReq
	if !h.read(w, r, enc, &req) {
		return
	}
	code := DefaultDisconnectCode
	if req.Code != nil {
		code = *req.Code
	}
	h.reply(w, enc, http.StatusOK, discResp{Closed: h.b.Disconnect(req.User, uint16(code))})
}

type chanResp struct {
	Channels []ChannelInfo `json:"channels"`
	More     bool          `json:"more"` // the list was cut at limit
}

// channels: GET /api/channels?prefix=&limit= -> {"channels":[{"ch","subs"}],"more"}.
// limit defaults to 100 and is capped by Config.MaxChannels.
func (h *Handler) channels(w http.ResponseWriter, r *http.Request, enc frame.Enc) {
	q := r.URL.Query()
	prefix := q.Get("prefix")
	if prefix != "" && !frame.ValidChannel([]byte(prefix)) {
		h.fail(w, enc, badRequest("prefix: not a channel-name prefix"))
		return
	}
	limit := min(100, h.maxList)
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > h.maxList {
			h.fail(w, enc, badRequest("limit must be in 1-"+strconv.Itoa(h.maxList)))
			return
		}
		limit = n
	}
	list := h.b.Channels(prefix, limit+1)
	resp := chanResp{Channels: list, More: len(list) > limit}
	if resp.More {
		resp.Channels = list[:limit]
	}
	if resp.Channels == nil {
		resp.Channels = []ChannelInfo{}
	}
	h.reply(w, enc, http.StatusOK, resp)
}

// info: GET /api/info -> the Backend's counters.
func (h *Handler) info(w http.ResponseWriter, r *http.Request, enc frame.Enc) {
	h.reply(w, enc, http.StatusOK, h.b.Info())
}

// request is a POST body type: decoded, then checked.
type request interface{ check() *Error }

// read reads, decodes and checks a POST body into req; on failure it has
// answered and returns false.
func (h *Handler) read(w http.ResponseWriter, r *http.Request, enc frame.Enc, req request) bool {
	body, e := h.readBody(w, r)
	if e == nil {
		e = decode(body, bodyEnc(r), req)
	}
	if e == nil {
		e = req.check()
	}
	if e != nil {
		h.fail(w, enc, e)
		return false
	}
	return true
}

func checkCh(ch, field string) *Error {
	switch {
	case ch == "":
		return badRequest(field + " missing or empty")
	case !frame.ValidChannel([]byte(ch)):
		return badRequest(field + ": invalid channel name (1-128 bytes of A-Z a-z 0-9 _.:@/=-)")
	}
	return nil
}

func checkData(d raw) *Error {
	if d == nil {
		return badRequest("data missing")
	}
	return nil
}
