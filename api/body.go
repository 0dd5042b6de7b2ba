package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"

	"github.com/starling-ws/starling/frame"
	"github.com/vmihailenco/msgpack/v5"
)

// readBody reads the request body, at most h.max bytes: a declared
// Content-Length over the limit is refused unread; otherwise bytes are
// counted as they arrive (http.MaxBytesReader, which also makes the server
// close the connection rather than drain the rest) and the buffer never
// grows past h.max+1.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *Error) {
	tooLarge := &Error{http.StatusRequestEntityTooLarge, "body larger than " + strconv.Itoa(h.max) + " bytes"}
	if r.ContentLength > int64(h.max) {
		return nil, tooLarge
	}
	want := 512
	if r.ContentLength >= 0 {
		want = int(r.ContentLength)
	}
	buf := make([]byte, 0, min(want, h.max)+1)
	body := http.MaxBytesReader(w, r.Body, int64(h.max))
	for {
		if len(buf) > h.max {
			return nil, tooLarge
		}
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(cap(buf), h.max+1-len(buf)))
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case err == io.EOF:
			return buf, nil
		case err != nil:
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, tooLarge
			}
			return nil, &Error{http.StatusBadRequest, "reading body: " + err.Error()}
		}
	}
}

// raw is a field holding one encoded value verbatim: JSON (a copy of
// the bytes, validated by encoding/json) or MessagePack (one complete
// value, as the decoder skipped it). nil means the field was absent.
type raw []byte

func (v *raw) UnmarshalJSON(b []byte) error {
	*v = append((*v)[:0], b...)
	return nil
}

func (v *raw) DecodeMsgpack(d *msgpack.Decoder) error {
	b, err := d.DecodeRaw()
	*v = raw(b)
	return err
}

// decode parses a request body into v (a pointer to a request struct):
// one object/map, no unknown fields, nothing after it.
func decode(body []byte, enc frame.Enc, v any) *Error {
	if enc == frame.JSON {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return badRequest(jsonReason(err))
		}
		if len(bytes.TrimSpace(body[dec.InputOffset():])) != 0 {
			return badRequest("malformed JSON body: data after the object")
		}
		return nil
	}
	if len(body) == 0 || !isMsgpackMap(body[0]) {
		return badRequest("malformed MessagePack body: want a map")
	}
	// The library sizes buffers from declared lengths (up to 1 MB per
	// string, a million slots per array) before it finds the bytes
	// missing. frame.TranscodedLen walks the body in place first: every
	// declared length must fit in the bytes received, so what the library
	// then allocates is bounded by the body. Its other refusals (ext types,
	// non-string keys, invalid UTF-8, NaN, excess depth) are data a JSON
	// subscriber could not receive, which Publish would refuse anyway.
	if _, err := frame.TranscodedLen(body, frame.MsgPack, math.MaxInt); err != nil {
		return badRequest("malformed MessagePack body: not one complete map, or not representable in JSON (ext type, non-string key, NaN/Inf, nesting > 64)")
	}
	r := bytes.NewReader(body)
	dec := msgpack.NewDecoder(r)
	dec.SetCustomStructTag("json")
	dec.DisallowUnknownFields(true)
	if err := dec.Decode(v); err != nil {
		return badRequest("malformed MessagePack body: " + err.Error())
	}
	if r.Len() != 0 {
		return badRequest("malformed MessagePack body: data after the map")
	}
	return nil
}

func isMsgpackMap(c byte) bool { return c&0xf0 == 0x80 || c == 0xde || c == 0xdf }

// jsonReason words a decoding error for the client without Go type names.
func jsonReason(err error) string {
	var typ *json.UnmarshalTypeError
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &typ):
		return fmt.Sprintf("malformed JSON body: %s: wrong type (%s)", typ.Field, typ.Value)
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON body at byte %d: %v", syn.Offset, syn)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON body: incomplete"
	}
	return "malformed JSON body: " + err.Error()
}

func badRequest(msg string) *Error { return &Error{http.StatusBadRequest, msg} }

// reply writes v with status in enc.
func (h *Handler) reply(w http.ResponseWriter, enc frame.Enc, status int, v any) {
	var b []byte
	var err error
	ct := "application/json"
	if enc == frame.MsgPack {
		var buf bytes.Buffer
		e := msgpack.NewEncoder(&buf)
		e.SetCustomStructTag("json")
		e.UseCompactInts(true)
		err = e.Encode(v)
		b, ct = buf.Bytes(), "application/msgpack"
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		h.log.Error("api: encoding a response", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", ct)
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(b)
}

type errorBody struct {
	Error string   `json:"error"`
	Offs  []uint64 `json:"offs,omitempty"`
}

func (h *Handler) fail(w http.ResponseWriter, enc frame.Enc, e *Error) {
	h.reply(w, enc, e.Status, errorBody{Error: e.Msg})
}

// backendError maps a Backend error to a response: *Error with a status
// the API documents goes to the client; anything else is a 500 whose
// text stays in the log.
func (h *Handler) backendError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		switch e.Status {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusTooManyRequests, http.StatusServiceUnavailable:
			return e
		}
	}
	h.log.Error("api: backend error", "err", err)
	return &Error{http.StatusInternalServerError, "internal error"}
}
