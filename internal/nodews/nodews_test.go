package nodews_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/starling-ws/starling/internal/testserver"
)

// Node's ws (perMessageDeflate, every message compressed) against a real
// server: the default offer is answered with both no_context_takeover
// parameters, ws inflates what the server compressed and the server what
// ws compressed, 1 KiB arrives in fewer bytes than its JSON, and a client
// asking for a server window of 10 bits is served plain.
func TestNodeWSDeflate(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not found (Node 20; .ci/run expects it): %v", err)
	}
	if _, err := os.Stat(filepath.Join("node_modules", "ws", "package.json")); err != nil {
		t.Fatalf("Node's ws is not installed: run `npm ci` in internal/nodews (.ci/run does): %v", err)
	}
	for _, engine := range []string{"epoll", "netpoll"} {
		t.Run(engine, func(t *testing.T) {
			ts := testserver.Start(t, engine, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, "deflate.mjs", ts.URL)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("node: %v\n%s", err, stderr.String())
			}
			var r struct {
				Extensions struct{ Sub, Narrow, Pub string }
				Data       int
				Wire       struct{ Sub, Narrow int }
			}
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("node said %q: %v", out, err)
			}
			t.Logf("%s", out)
			const agreed = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
			if r.Extensions.Sub != agreed || r.Extensions.Pub != agreed || r.Extensions.Narrow != "" {
				t.Fatalf("extensions %+v", r.Extensions)
			}
			if r.Wire.Sub >= r.Data*2/3 || r.Wire.Narrow <= r.Data {
				t.Fatalf("a %d-byte data part took %d bytes compressed, %d plain", r.Data, r.Wire.Sub, r.Wire.Narrow)
			}
			st := ts.Srv.Stats()
			// ws compresses every message it sends: the subscriber's sub and
			// the publisher's two pubs (the narrow one sends plain).
			if st.Compressions != 1 || st.Inflations != 3 || st.DeflateNegotiated != 2 {
				t.Fatalf("server: %d compressions (want 1), %d inflations (want 3), %d negotiated (want 2)",
					st.Compressions, st.Inflations, st.DeflateNegotiated)
			}
		})
	}
}
