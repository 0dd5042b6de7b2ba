package metrics_test

import (
	"os"
	"strings"
	"testing"
)

// TestEveryMetricDocumented: every starling_ family /metrics serves has a
// row in docs/operations.md's metrics table, so an operator can look up
// what a series means (and a metric cannot be added silently).
func TestEveryMetricDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	r := startRig(t, "epoll", nil)
	n := 0
	for name := range scrape(t, r.base+"/metrics") {
		if !strings.HasPrefix(name, "starling_") {
			continue
		}
		n++
		if !strings.Contains(string(doc), "| `"+name+"` |") {
			t.Errorf("%s is served but has no row in docs/operations.md's metrics table", name)
		}
	}
	if n < 30 {
		t.Fatalf("only %d starling_ families scraped", n)
	}
}
