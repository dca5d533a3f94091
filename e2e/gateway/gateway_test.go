package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host/hosttest"
)

// The gateway of `make run` serves for hours against its builtin mock: what
// the mock keeps, and the heap, stay flat however many requests pass.
func TestBuiltinMockMemoryStaysFlat(t *testing.T) {
	cfg, err := ParseConfig([]byte("routes:\n" +
		"  - {id: c, uri: /v1/chat/completions, plugins: {ai-proxy: {provider: openai, auth: {header: {Authorization: Bearer k}}}}}\n" +
		"clusters:\n  api.openai.com: builtin:openai\n"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(context.Background(), hosttest.Filter(t), cfg, Options{Profile: host.EnvoyFixed, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	defer func() { srv.Close(); g.Close() }()
	// ~3 KB of headers and body per request, as a chat client sends.
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"` + strings.Repeat("hello ", 400) + `"}]}`
	send := func(n int) {
		for range n {
			resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
		}
	}
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	send(200) // warm up: the VM's memory, pools and connections reach their size
	before := heap()
	const n = 3000
	send(n)
	grew := int64(heap()) - int64(before)

	m := g.mocks["openai"]
	if m.Count() != 200+n || len(m.Requests()) > builtinRecords {
		t.Fatalf("the builtin mock saw %d requests and kept %d, want %d kept at most", m.Count(), len(m.Requests()), builtinRecords)
	}
	// Recording every request grew the heap by ~3 KB each (9 MB here);
	// flat leaves room only for noise.
	t.Logf("heap grew by %d bytes over %d requests", grew, n)
	if grew > n*3000/4 {
		t.Fatalf("heap grew by %d bytes over %d requests (%d per request)", grew, n, grew/n)
	}
}

// The gateway's router honours x-envoy-upstream-rq-timeout-ms like Envoy's:
// a total timeout from the complete request to the end of the response, 0
// meaning none, absent meaning the route's 15 s default; the header never
// reaches the upstream, which gets x-envoy-expected-rq-timeout-ms instead
// when a timeout is set.
func TestRouterTimeout(t *testing.T) {
	var sawHeader atomic.Bool
	var expected sync.Map // path+timeout → x-envoy-expected-rq-timeout-ms seen
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-envoy-upstream-rq-timeout-ms") != "" {
			sawHeader.Store(true)
		}
		expected.Store(r.URL.RawQuery, r.Header.Get("x-envoy-expected-rq-timeout-ms"))
		wait := func(d time.Duration) {
			select {
			case <-r.Context().Done():
			case <-time.After(d):
			}
		}
		if r.URL.Path == "/slow-headers" {
			wait(time.Second)
		}
		w.Header().Set("content-type", "text/plain")
		io.WriteString(w, "part ")
		w.(http.Flusher).Flush()
		wait(time.Second)
		io.WriteString(w, "rest")
	}))
	defer up.Close()
	g := &Gateway{cfg: &Config{Clusters: map[string]string{"provider": up.URL}}, client: &http.Client{}}

	tests := []struct {
		name, path, timeout string
		status              int
		body                string
		broken              bool   // the body ends with an error: a reset downstream
		expected            string // x-envoy-expected-rq-timeout-ms upstream
	}{
		{"before the headers: Envoy's 504", "/slow-headers", "200", 504, "upstream request timeout", false, "200"},
		{"after the headers: the body breaks", "/slow-body", "200", 200, "part ", true, "200"},
		{"0 disables it", "/slow-body", "0", 200, "part rest", false, ""},
		{"a timeout that holds", "/slow-body", "5000", 200, "part rest", false, "5000"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ur := &host.UpstreamRequest{Method: "GET", Scheme: "http", Authority: "provider", Path: tc.path + "?" + strconv.Itoa(i),
				Header: [][2]string{{"x-envoy-upstream-rq-timeout-ms", tc.timeout}}}
			resp, err := g.forward(context.Background(), ur)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.Status != tc.status || string(b) != tc.body || (err != nil) != tc.broken {
				t.Fatalf("%d %q, read error %v", resp.Status, b, err)
			}
			if v, _ := expected.Load(strconv.Itoa(i)); v != tc.expected {
				t.Errorf("x-envoy-expected-rq-timeout-ms %q upstream, want %q", v, tc.expected)
			}
		})
	}
	if sawHeader.Load() {
		t.Error("x-envoy-upstream-rq-timeout-ms reached the upstream")
	}
	if d := routerTimeout(nil); d != 15*time.Second {
		t.Errorf("default route timeout %v", d)
	}
	if d := routerTimeout([][2]string{{"x-envoy-upstream-rq-timeout-ms", "x"}}); d != 15*time.Second {
		t.Errorf("unparsable header gives %v, want the route default", d)
	}
}
