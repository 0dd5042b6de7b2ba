package frame

import (
	"bytes"
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
		n, key, rej := ParseUpgrade(in, "/ws")
		switch {
		case status == 0 && rej != nil:
			t.Errorf("%s: rejected %d %s, want accept", name, rej.Status, rej.Reason)
		case status == 0 && (n != len(in) || string(key) != goodKey):
			t.Errorf("%s: n=%d key=%q, want n=%d", name, n, key, len(in))
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
			if n, key, rej := ParseUpgrade(in[:i], "/ws"); n != 0 || key != nil || rej != nil {
				t.Fatalf("prefix %d of %q: n=%d rej=%v, want wait", i, in, n, rej)
			}
		}
		_, _, rej := ParseUpgrade(in, "/ws")
		if bytes.HasPrefix(in, []byte("GET")) && bytes.Contains(in, []byte("Host")) {
			if rej != nil {
				t.Fatalf("whole request rejected: %v", rej)
			}
		} else if rej == nil {
			t.Fatalf("whole bad request accepted: %q", in)
		}
	}
	in := append(goodRequest(), 0x81, 0x85)
	if n, _, rej := ParseUpgrade(in, "/ws"); rej != nil || n != len(in)-2 {
		t.Fatalf("early frame bytes: n=%d rej=%v", n, rej)
	}
}

func TestAppendAccept(t *testing.T) {
	got := string(AppendAccept([]byte("x"), []byte(goodKey)))
	want := "xHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n" // RFC 6455 1.3
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	long := bytes.Repeat([]byte("k"), 200) // the slow path must agree with itself
	if a, b := AppendAccept(nil, long), AppendAccept(nil, long); !bytes.Equal(a, b) {
		t.Fatal("long key not deterministic")
	}
	dst := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() { dst = AppendAccept(dst[:0], []byte(goodKey)) })
	if allocs != 0 {
		t.Fatalf("AppendAccept: %v allocs, want 0 (sha1 or base64 escaping to heap?)", allocs)
	}
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
}
