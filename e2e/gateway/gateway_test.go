package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

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
