package bench

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The sampler reads this process from /proc and the Go heap from a real
// client_golang /metrics endpoint; without the endpoint the heap is -1.
func TestSamplerTakesProcAndHeap(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	s := &Sampler{PID: os.Getpid(), MetricsURL: srv.URL}
	sm, err := s.Take()
	if err != nil {
		t.Fatal(err)
	}
	if sm.RSS <= 0 || sm.Threads < 1 || sm.FDs < 3 || sm.Heap <= 0 || sm.Slab <= 0 {
		t.Fatalf("sample %+v", sm)
	}
	for name, h := range map[string]http.Handler{
		"404":      http.NotFoundHandler(),
		"not text": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("go_memstats_heap_inuse_bytes{ 1")) }),
		"no gauge": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("other_metric 1\n")) }),
		"labelled": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte("go_memstats_heap_inuse_bytes{a=\"1\"} 1\ngo_memstats_heap_inuse_bytes{a=\"2\"} 2\n"))
		}),
	} {
		bad := httptest.NewServer(h)
		s.MetricsURL = bad.URL
		sm, _ = s.Take()
		bad.Close()
		if sm.Heap != -1 {
			t.Errorf("%s: heap %d, want -1", name, sm.Heap)
		}
	}
	if _, err := (&Sampler{PID: 1 << 30}).Take(); err == nil {
		t.Fatal("no error sampling a pid that cannot exist")
	}
}
