package envoytest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/envoy"
	harness "github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/gateway"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

// TestHealthFlipSeenByBothWorkers runs an ai-proxy-multi route with active
// checks on instance a in Envoy with two workers: one worker's probes, from
// its root context, decide for both, through shared data. While a's probe
// answers 500, requests on fresh connections (spread over the workers by
// the kernel) all go to b; once it answers 200 again, a serves again.
func TestHealthFlipSeenByBothWorkers(t *testing.T) {
	forEachEnvoy(t, func(t *testing.T, b envoy.Binary) {
		a, bm := mock.NewOpenAI(mock.WithAPIKey("key-a")), mock.NewOpenAI(mock.WithAPIKey("key-b"))
		t.Cleanup(a.Close)
		t.Cleanup(bm.Close)
		var status, probes atomic.Int32
		status.Store(200)
		u, _ := url.Parse(a.URL)
		proxy := httputil.NewSingleHostReverseProxy(u)
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/health" && r.Header.Get("Authorization") == "Bearer key-a" {
				probes.Add(1)
				w.WriteHeader(int(status.Load()))
				return
			}
			proxy.ServeHTTP(w, r)
		}))
		t.Cleanup(hs.Close)

		cfg, err := harness.ParseConfig([]byte(`routes:
  - id: multi
    uri: /v1/chat/completions
    plugins:
      ai-proxy-multi:
        instances:
          - name: a
            provider: openai-compatible
            weight: 8
            auth: {header: {Authorization: Bearer key-a}}
            options: {model: model-a}
            override: {endpoint: "http://a.test/v1/chat/completions"}
            upstream_cluster: "a.test:443"
            checks: {active: {http_path: /health, healthy: {interval: 1, successes: 1}, unhealthy: {interval: 1, http_failures: 1}}}
          - name: b
            provider: openai-compatible
            weight: 2
            auth: {header: {Authorization: Bearer key-b}}
            options: {model: model-b}
            override: {endpoint: "http://b.test/v1/chat/completions"}
            upstream_cluster: "b.test:443"
clusters:
  a.test: ` + hs.URL + `
  b.test: ` + bm.URL + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		ecfg, err := envoy.GatewayConfig(cfg, envoy.GatewayOptions{Module: envoy.Module(t), Listen: freeAddr(t), Targets: cfg.Clusters})
		if err != nil {
			t.Fatal(err)
		}
		e := envoy.Start(t, b, ecfg, envoy.Options{Concurrency: 2})
		base := "http://" + e.ListenerAddr(t, "gateway")
		// One connection per request: the kernel spreads them over the
		// workers' listeners (SO_REUSEPORT).
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		send := func(n int) {
			t.Helper()
			for i := range n {
				resp, err := client.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
				}
			}
		}
		health := func() (int64, bool) {
			v, ok := e.Stats(t, "llm_instance_health")["wasmcustom.llm_instance_health.instance.a"]
			return v, ok
		}
		wait := func(what string, cond func() bool) {
			t.Helper()
			for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
				if time.Now().After(end) {
					t.Fatalf("waited 10 s for %s; Envoy log:\n%s", what, e.Log())
				}
			}
		}

		wait("a probe", func() bool { return probes.Load() > 0 })
		send(10)
		if a.Count() == 0 {
			t.Fatal("a healthy instance got no request")
		}

		// perWorker counts the listener's connections on each worker.
		perWorker := func() (w0, w1 int64) {
			for name, v := range e.Stats(t, "downstream_cx_total") {
				switch {
				case strings.HasPrefix(name, "listener.") && strings.HasSuffix(name, ".worker_0.downstream_cx_total"):
					w0 += v
				case strings.HasPrefix(name, "listener.") && strings.HasSuffix(name, ".worker_1.downstream_cx_total"):
					w1 += v
				}
			}
			return w0, w1
		}

		status.Store(500)
		wait("the gauge to say a is out", func() bool { v, ok := health(); return ok && v == 0 })
		time.Sleep(500 * time.Millisecond) // both workers have read the shared record
		a.Reset()
		w0, w1 := perWorker()
		send(20)
		if a.Count() != 0 {
			t.Fatalf("an unhealthy instance got %d of 20 requests", a.Count())
		}
		if n0, n1 := perWorker(); n0 == w0 || n1 == w1 {
			t.Fatalf("the 20 requests did not reach both workers (worker 0: %d, worker 1: %d connections)", n0-w0, n1-w1)
		}

		status.Store(200)
		wait("the gauge to say a is back", func() bool { v, _ := health(); return v == 1 })
		time.Sleep(500 * time.Millisecond)
		send(20)
		if a.Count() == 0 {
			t.Fatal("a is healthy again and got no request")
		}
	})
}
