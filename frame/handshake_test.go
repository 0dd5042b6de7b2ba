package frame

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

const goodKey = "dGhlIHNhbXBsZSBub25jZQ=="

func request(lines ...string) []byte {
	return []byte(strings.Join(lines, "\r\n") + "\r\n\r\n")
}

func goodRequest(extra ...string) []byte {
	return request(append([]string{
		"GET /ws HTTP/1.1",
		"Host: example.com",
		"Upgrade: websocket",
		"Connection: Upgrade",
		"Sec-WebSocket-Key: " + goodKey,
		"Sec-WebSocket-Version: 13",
	}, extra...)...)
}

// without drops the header line starting with prefix from goodRequest.
func without(prefix string, extra ...string) []byte {
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(string(goodRequest()), "\r\n\r\n"), "\r\n") {
		if !strings.HasPrefix(l, prefix) {
			lines = append(lines, l)
		}
	}
	return request(append(lines, extra...)...)
}

// replace swaps the line starting with prefix for line, in place.
func replace(prefix, line string) []byte {
	lines := strings.Split(strings.TrimSuffix(string(goodRequest()), "\r\n\r\n"), "\r\n")
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			lines[i] = line
		}
	}
	return request(lines...)
}

func TestParseUpgrade(t *testing.T) {
	f := func(name string, in []byte, status int) {
		t.Helper()
		var u Upgrade
		n, rej := ParseUpgrade(in, "/ws", &u)
		switch {
		case status == 0 && rej != nil:
			t.Errorf("%s: rejected %d %s, want accept", name, rej.Status, rej.Reason)
		case status == 0 && (n != len(in) || string(u.Key[:]) != goodKey):
			t.Errorf("%s: n=%d key=%q, want n=%d", name, n, u.Key, len(in))
		case status == -1 && (rej != nil || n != 0):
			t.Errorf("%s: got n=%d rej=%v, want wait", name, n, rej)
		case status > 0 && (rej == nil || rej.Status != status):
			t.Errorf("%s: got n=%d rej=%+v, want %d", name, n, rej, status)
		case status > 0 && n != 0:
			t.Errorf("%s: rejected with n=%d", name, n)
		}
	}
	f("good", goodRequest(), 0)
	f("query string ignored", replace("GET", "GET /ws?token=abc HTTP/1.1"), 0)
	f("token lists, any case", replace("Connection", "connection: keep-alive, UPGRADE"), 0)
	f("upgrade list, any case", replace("Upgrade", "UPGRADE: h2c, WebSocket"), 0)
	f("deflate offer ignored", goodRequest("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"), 0)
	f("other headers", goodRequest("Origin: http://x", "Cookie: a=b"), 0)
	f("empty host", replace("Host", "Host:"), 0)
	f("HTTP/1.2", replace("GET", "GET /ws HTTP/1.2"), 0)

	f("incomplete", goodRequest()[:50], -1)
	f("empty", nil, -1)

	f("missing key", without("Sec-WebSocket-Key"), 400)
	f("key too short", replace("Sec-WebSocket-Key", "Sec-WebSocket-Key: abc"), 400)
	f("key not base64", replace("Sec-WebSocket-Key", "Sec-WebSocket-Key: !GhlIHNhbXBsZSBub25jZQ=="), 400)
	f("key decodes to 18 bytes", replace("Sec-WebSocket-Key", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAA"), 400)
	f("duplicate key", goodRequest("Sec-WebSocket-Key: "+goodKey), 400)
	f("missing upgrade", without("Upgrade"), 400)
	f("upgrade not websocket", replace("Upgrade", "Upgrade: h2c"), 400)
	f("missing connection", without("Connection"), 400)
	f("connection without upgrade", replace("Connection", "Connection: keep-alive"), 400)
	f("missing host", without("Host"), 400)
	f("duplicate host", goodRequest("Host: other"), 400)
	f("HTTP/1.0", replace("GET", "GET /ws HTTP/1.0"), 400)
	f("HTTP/2.0", replace("GET", "GET /ws HTTP/2.0"), 400)
	f("garbage request line", replace("GET", "hello"), 400)
	f("missing version", without("Sec-WebSocket-Version"), 400)
	f("header without colon", goodRequest("Broken header"), 400)
	f("folded header", goodRequest(" folded"), 400)
	f("bare CR in header", goodRequest("X: a\rb"), 400)

	f("POST", replace("GET", "POST /ws HTTP/1.1"), 405)
	f("lower-case get", replace("GET", "get /ws HTTP/1.1"), 405)
	f("version 8", replace("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8"), 426)
	f("version 14", replace("Sec-WebSocket-Version", "Sec-WebSocket-Version: 14"), 426)
	f("wrong path", replace("GET", "GET /other HTTP/1.1"), 404)
	f("path prefix", replace("GET", "GET /wss HTTP/1.1"), 404)

	f("over MaxRequest without end", bytes.Repeat([]byte("a"), MaxRequest), 431)
	f("head longer than MaxRequest", goodRequest("X-Pad: "+strings.Repeat("a", MaxRequest)), 431)
	f("head exactly MaxRequest", goodRequest("X-Pad: "+strings.Repeat("a", MaxRequest-len(goodRequest())-len("X-Pad: \r\n"))), 0)
}

// The verdict does not depend on how the bytes arrived: every proper
// prefix waits, the whole request decides, and frame bytes after the head
// are left alone.
func TestParseUpgradeIncremental(t *testing.T) {
	for _, in := range [][]byte{goodRequest(), replace("GET", "POST /ws HTTP/1.1"), without("Host")} {
		for i := range len(in) {
			var u Upgrade
			if n, rej := ParseUpgrade(in[:i], "/ws", &u); n != 0 || rej != nil {
				t.Fatalf("prefix %d of %q: n=%d rej=%v, want wait", i, in, n, rej)
			}
		}
		var u Upgrade
		_, rej := ParseUpgrade(in, "/ws", &u)
		if bytes.HasPrefix(in, []byte("GET")) && bytes.Contains(in, []byte("Host")) {
			if rej != nil {
				t.Fatalf("whole request rejected: %v", rej)
			}
		} else if rej == nil {
			t.Fatalf("whole bad request accepted: %q", in)
		}
	}
	in := append(goodRequest(), 0x81, 0x85)
	var u Upgrade
	if n, rej := ParseUpgrade(in, "/ws", &u); rej != nil || n != len(in)-2 {
		t.Fatalf("early frame bytes: n=%d rej=%v", n, rej)
	}
}

func TestAppendAccept(t *testing.T) {
	got := string(AppendAccept([]byte("x"), [KeyLen]byte([]byte(goodKey))))
	want := "xHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n" // RFC 6455 1.3
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	dst := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() { dst = AppendAccept(dst[:0], [KeyLen]byte([]byte(goodKey))) })
	if allocs != 0 {
		t.Fatalf("AppendAccept: %v allocs, want 0 (sha1 or base64 escaping to heap?)", allocs)
	}
}

// The 101 with a negotiated extension carries exactly that one element,
// fits MaxAccept, and allocates nothing.
func TestAppendAcceptExt(t *testing.T) {
	ext, ok := NegotiateDeflate([][]byte{[]byte("permessage-deflate; server_max_window_bits=15")})
	if !ok {
		t.Fatal("offer declined")
	}
	got := string(AppendAcceptExt(nil, [KeyLen]byte([]byte(goodKey)), ext))
	want := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15\r\n\r\n"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if len(got) > MaxAccept {
		t.Fatalf("%d bytes, MaxAccept is %d", len(got), MaxAccept)
	}
	dst := make([]byte, 0, MaxAccept)
	zeroAllocs(t, "AppendAcceptExt", "appends into dst", func() { dst = AppendAcceptExt(dst[:0], [KeyLen]byte([]byte(goodKey)), ext) })
}

func TestAppendReject(t *testing.T) {
	f := func(rej *Reject, want ...string) {
		t.Helper()
		got := string(AppendReject(nil, rej))
		for _, w := range append(want, "Connection: close\r\n", "\r\n\r\n"+rej.Reason+"\n") {
			if !strings.Contains(got, w) {
				t.Errorf("%d: %q lacks %q", rej.Status, got, w)
			}
		}
	}
	f(&Reject{400, "bad_request"}, "HTTP/1.1 400 Bad Request\r\n", "Content-Length: 12\r\n")
	f(&Reject{404, "not_found"}, "HTTP/1.1 404 Not Found\r\n")
	f(&Reject{405, "bad_method"}, "HTTP/1.1 405 Method Not Allowed\r\n", "Allow: GET\r\n")
	f(&Reject{426, "bad_version"}, "HTTP/1.1 426 Upgrade Required\r\n", "Sec-WebSocket-Version: 13\r\n")
	f(&Reject{431, "too_large"}, "HTTP/1.1 431 Request Header Fields Too Large\r\n")
	f(&Reject{503, "full"}, "HTTP/1.1 503 Service Unavailable\r\n")
	f(&Reject{408, "timeout"}, "HTTP/1.1 408 Request Timeout\r\n")
}

// Issue 14 item 1: the key outlived the pooled buffer it aliased, and a
// reused buffer gave another connection's Sec-WebSocket-Accept. The key is
// now a copy: scribbling over the request changes nothing.
func TestUpgradeKeyOutlivesBuffer(t *testing.T) {
	req := goodRequest()
	var u Upgrade
	if n, rej := ParseUpgrade(req, "/ws", &u); rej != nil || n == 0 {
		t.Fatalf("n=%d rej=%v", n, rej)
	}
	for i := range req {
		req[i] = 'A'
	}
	got := string(AppendAccept(nil, u.Key))
	if !strings.Contains(got, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") {
		t.Fatalf("accept after the buffer was reused: %q", got)
	}
}

// Issue 14 item 9: an HTTP version of many digits overflowed into 1.1.
// RFC 9112 2.3: one digit each side of the dot.
func TestParseUpgradeVersionOverflow(t *testing.T) {
	for _, v := range []string{"HTTP/1.18446744073709551617", "HTTP/1.10", "HTTP/01.1", "HTTP/1.1x", "HTTP/1.", "HTTP/1.1 x"} {
		var u Upgrade
		if _, rej := ParseUpgrade(replace("GET", "GET /ws "+v), "/ws", &u); rej == nil || rej.Status != 400 {
			t.Errorf("%s: got %+v, want 400", v, rej)
		}
	}
}

// Issue 14 item 9: whitespace between a header name and its colon must be
// refused with 400 (RFC 9112 5.1), not read as the header.
func TestParseUpgradeSpaceBeforeColon(t *testing.T) {
	for _, c := range []struct{ prefix, line string }{
		{"Host", "Host : example.com"},
		{"Host", "Host\t: example.com"},
		{"Sec-WebSocket-Version", "Sec-WebSocket-Version : 13"},
		{"Sec-WebSocket-Key", "Sec-WebSocket-Key : " + goodKey},
	} {
		var u Upgrade
		if _, rej := ParseUpgrade(replace(c.prefix, c.line), "/ws", &u); rej == nil || rej.Status != 400 {
			t.Errorf("%q: got %+v, want 400", c.line, rej)
		}
	}
	var u Upgrade
	if _, rej := ParseUpgrade(goodRequest("X-Nul: a\x00b"), "/ws", &u); rej == nil || rej.Status != 400 {
		t.Errorf("NUL in a value: got %+v, want 400", rej)
	}
}

// Issue 14 item 9: the 408 went out as "408 Error". Every status a Reject
// can carry has its registered phrase.
func TestAppendRejectReasonPhrases(t *testing.T) {
	for code := 400; code <= 599; code++ {
		phrase := http.StatusText(code)
		if phrase == "" {
			continue
		}
		got := string(AppendReject(nil, &Reject{Status: code, Reason: "x"}))
		if want := "HTTP/1.1 " + strconv.Itoa(code) + " " + phrase + "\r\n"; !strings.HasPrefix(got, want) {
			t.Errorf("%d: %q, want prefix %q", code, got, want)
		}
	}
}

func TestParseUpgradeFields(t *testing.T) {
	req := goodRequest(
		"Origin: https://app.example",
		"Authorization: Bearer abc.def",
		"Sec-WebSocket-Protocol: v1, v2",
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
		"X-Forwarded-For: 10.0.0.1, 10.0.0.2",
		"sec-websocket-extensions: x-other",
		"x-forwarded-for:10.0.0.3",
	)
	req = bytes.Replace(req, []byte("GET /ws "), []byte("GET /ws?token=t&x=1 "), 1)
	var u Upgrade
	if n, rej := ParseUpgrade(req, "/ws", &u); rej != nil || n != len(req) {
		t.Fatalf("n=%d rej=%v", n, rej)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"key", string(u.Key[:]), goodKey},
		{"origin", string(u.Origin), "https://app.example"},
		{"authorization", string(u.Authorization), "Bearer abc.def"},
		{"query", string(u.Query), "token=t&x=1"},
		{"protocol", string(u.Protocol), "v1, v2"},
		{"extensions", fmt.Sprintf("%q", u.Extensions.All()), `["permessage-deflate; client_max_window_bits" "x-other"]`},
		{"forwarded", fmt.Sprintf("%q", u.ForwardedFor.All()), `["10.0.0.1, 10.0.0.2" "10.0.0.3"]`},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	// Spans alias the request (documented): they see a change to it.
	if &u.Origin[0] != &req[bytes.Index(req, []byte("https://app"))] {
		t.Error("Origin does not alias the request")
	}

	// Absent is nil; present but empty is empty and non-nil.
	u = Upgrade{Query: []byte("stale")}
	if _, rej := ParseUpgrade(goodRequest("Origin:"), "/ws", &u); rej != nil {
		t.Fatal(rej)
	}
	if u.Query != nil || u.Authorization != nil || u.Protocol != nil || u.Extensions.All() != nil || u.ForwardedFor.All() != nil {
		t.Errorf("absent fields not nil: %+v", u)
	}
	if u.Origin == nil || len(u.Origin) != 0 {
		t.Errorf("empty Origin: %q (nil %v)", u.Origin, u.Origin == nil)
	}
	if _, rej := ParseUpgrade(replace("GET", "GET /ws? HTTP/1.1"), "/ws", &u); rej != nil || u.Query == nil || len(u.Query) != 0 {
		t.Errorf("empty query: rej %v query %q", rej, u.Query)
	}

	// Single-valued headers may not repeat; list headers up to MaxHeaderValues.
	bad := func(name string, in []byte) {
		t.Helper()
		var u Upgrade
		if _, rej := ParseUpgrade(in, "/ws", &u); rej == nil || rej.Status != 400 {
			t.Errorf("%s: got %+v, want 400", name, rej)
		}
	}
	bad("two Origin", goodRequest("Origin: a", "Origin: b"))
	bad("two Authorization", goodRequest("Authorization: a", "authorization: b"))
	bad("two Protocol", goodRequest("Sec-WebSocket-Protocol: a", "Sec-WebSocket-Protocol: b"))
	var many []string
	for i := range MaxHeaderValues {
		many = append(many, fmt.Sprintf("X-Forwarded-For: 10.0.0.%d", i))
	}
	if _, rej := ParseUpgrade(goodRequest(many...), "/ws", &u); rej != nil || len(u.ForwardedFor.All()) != MaxHeaderValues {
		t.Errorf("%d X-Forwarded-For: rej %v, %d kept", MaxHeaderValues, rej, len(u.ForwardedFor.All()))
	}
	bad("too many X-Forwarded-For", goodRequest(append(many, "X-Forwarded-For: 1.1.1.1")...))
	many = many[:0]
	for range MaxHeaderValues + 1 {
		many = append(many, "Sec-WebSocket-Extensions: x")
	}
	bad("too many Sec-WebSocket-Extensions", goodRequest(many...))
}

// A typical browser upgrade parses and is answered without allocating.
func TestParseUpgradeZeroAllocs(t *testing.T) {
	req := goodRequest("Origin: https://app.example", "User-Agent: Mozilla/5.0", "Cookie: a=b",
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits", "X-Forwarded-For: 10.1.2.3")
	dst := make([]byte, 0, 256)
	var u Upgrade
	zeroAllocs(t, "ParseUpgrade+AppendAccept", "spans alias the request, the key is a fixed array", func() {
		if n, rej := ParseUpgrade(req, "/ws", &u); rej != nil || n != len(req) {
			t.Fatalf("n=%d rej=%v", n, rej)
		}
		dst = AppendAccept(dst[:0], u.Key)
	})
}
