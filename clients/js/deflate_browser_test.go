package js_test

import (
	"fmt"
	"testing"

	"github.com/starling-ws/starling/internal/testserver"
)

// A real browser negotiates permessage-deflate with the server's default
// -compress: the page's WebSocket reports the one element the server
// answers, a 2 KiB publish arrives intact (the browser inflated what the
// server compressed once), and the server inflated what the browser sent
// compressed, if it did.
func TestBrowserDeflate(t *testing.T) {
	ts := testserver.Start(t, "epoll", nil)
	ctx, _ := browser(t)
	do(t, ctx, fmt.Sprintf(`(() => {
  window.Z = { got: [], ext: null };
  const ws = new WebSocket(%q);
  ws.onopen = () => { Z.ext = ws.extensions; ws.send(JSON.stringify({ op: 'sub', ch: 'z', id: 1 })); };
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    Z.got.push(m);
    if (m.op === 'ack' && m.id === 1) {
      const words = [];
      for (let i = 0; words.join(' ').length < 2048; i++) words.push(['deploy', 'the', 'build', 'lunch', 'review', 'ok'][(i * 7) %% 6] + i);
      ws.send(JSON.stringify({ op: 'pub', ch: 'z', data: { text: words.join(' ') } }));
    }
  };
})()`, ts.URL))
	waitJS(t, ctx, "Z.got.some(m => m.op === 'msg')")
	if ext := eval[string](t, ctx, "Z.ext"); ext != "permessage-deflate; server_no_context_takeover; client_no_context_takeover" {
		t.Fatalf("the browser's WebSocket reports extensions %q", ext)
	}
	if n := eval[int](t, ctx, "Z.got.find(m => m.op === 'msg').data.text.length"); n < 2048 {
		t.Fatalf("the msg's text is %d bytes", n)
	}
	st := ts.Srv.Stats()
	if st.DeflateNegotiated != 1 || st.Compressions != 1 {
		t.Fatalf("server: %d negotiated, %d compressions (want 1 and 1)", st.DeflateNegotiated, st.Compressions)
	}
	t.Logf("the server inflated %d of the browser's 2 messages", st.Inflations)
}
