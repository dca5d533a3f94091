package e2e

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/gateway"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

// healthServer answers probes on /health with a status the test sets and
// passes everything else to a mock provider; it records the probes.
type healthServer struct {
	*httptest.Server
	status atomic.Int32
	mu     sync.Mutex
	probes []*http.Request
}

func newHealthServer(t *testing.T, provider *mock.Server) *healthServer {
	t.Helper()
	u, _ := url.Parse(provider.URL)
	proxy := httputil.NewSingleHostReverseProxy(u)
	hs := &healthServer{}
	hs.status.Store(200)
	hs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/health") {
			hs.mu.Lock()
			hs.probes = append(hs.probes, r)
			hs.mu.Unlock()
			w.WriteHeader(int(hs.status.Load()))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	return hs
}

func (hs *healthServer) probeCount() int {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return len(hs.probes)
}

// healthRoute is multiRoute with instance a behind hs and checks on it.
func healthRoute(hs *healthServer, a, b *mock.Server, checks, extra string) string {
	conf := strings.Replace(multiRoute(a, b, extra), "  a.test: "+a.URL, "  a.test: "+hs.URL, 1)
	if checks != "" {
		conf = strings.Replace(conf, "            options: {model: model-a}\n", "            options: {model: model-a}\n            checks: "+checks+"\n", 1)
	}
	return conf
}

// waitFor polls cond every 50 ms for up to limit (a generous bound: the
// behaviour waits on intervals of whole seconds).
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(limit); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("waited %v for %s", limit, what)
		}
	}
}

func gauge(g *gateway.Gateway, name string) (uint64, bool) {
	m, ok := g.Shared().Metric("wasmcustom." + name)
	return m.Value, ok
}

const activeChecks = `{active: {http_path: "/health?deep=1", timeout: 1, healthy: {interval: 1, successes: 1}, unhealthy: {interval: 1, http_failures: 1}}}`

// Active checks across two workers: a failing probe takes instance a out
// of both workers' picks, a passing one brings it back, and the probes
// carry a's credentials.
func TestHealthChecksFlipOutAndBackIn(t *testing.T) {
	a := mock.NewOpenAI(mock.WithAPIKey("key-a"))
	b := mock.NewOpenAI(mock.WithAPIKey("key-b"))
	defer a.Close()
	defer b.Close()
	hs := newHealthServer(t, a)
	base, g := startGatewayWorkers(t, host.EnvoyFixed, healthRoute(hs, a, b, activeChecks, ""), 2)
	const req = `{"messages":[{"role":"user","content":"hi"}]}`
	send := func(n int) {
		for range n {
			if status, body := chat(t, base, req); status != 200 {
				t.Fatalf("%d %s", status, body)
			}
		}
	}

	waitFor(t, 5*time.Second, "a first probe", func() bool { return hs.probeCount() > 0 })
	send(10)
	if a.Count() == 0 {
		t.Fatal("a healthy instance got no request")
	}
	hs.mu.Lock()
	probe := hs.probes[0]
	hs.mu.Unlock()
	if probe.Header.Get("Authorization") != "Bearer key-a" || probe.URL.RawQuery != "deep=1" || probe.Method != "GET" {
		t.Fatalf("probe %s %s with Authorization %q", probe.Method, probe.URL, probe.Header.Get("Authorization"))
	}

	hs.status.Store(500)
	waitFor(t, 5*time.Second, "the gauge to say a is out", func() bool { v, ok := gauge(g, "llm_instance_health.instance.a"); return ok && v == 0 })
	time.Sleep(300 * time.Millisecond) // both workers have read the shared record
	a.Reset()
	send(10) // five through each worker
	if a.Count() != 0 {
		t.Fatalf("an unhealthy instance got %d of 10 requests", a.Count())
	}

	hs.status.Store(200)
	waitFor(t, 5*time.Second, "the gauge to say a is back", func() bool { v, _ := gauge(g, "llm_instance_health.instance.a"); return v == 1 })
	time.Sleep(300 * time.Millisecond)
	send(10)
	if a.Count() == 0 {
		t.Fatal("a is healthy again and got no request")
	}
}

// Four workers tick, yet each probe interval sends one probe: the lease in
// shared data lets one worker probe an instance at a time.
func TestHealthOneProberAcrossWorkers(t *testing.T) {
	a := mock.NewOpenAI()
	b := mock.NewOpenAI()
	defer a.Close()
	defer b.Close()
	hs := newHealthServer(t, a)
	startGatewayWorkers(t, host.EnvoyFixed, healthRoute(hs, a, b, activeChecks, ""), 4)
	waitFor(t, 5*time.Second, "a first probe", func() bool { return hs.probeCount() > 0 })
	start := hs.probeCount()
	time.Sleep(3 * time.Second)
	// healthy.interval is 1 s: at most one probe per second, plus one for
	// the edges of the window; four independent probers would send 12.
	if n := hs.probeCount() - start; n < 1 || n > 4 {
		t.Fatalf("%d probes in 3 s from 4 workers, want 1 to 4", n)
	}
}

// A 429 with Retry-After puts the instance on cooldown for every worker,
// for as long as Retry-After says: longer than the backoff without it.
func TestHealthCooldownHonoursRetryAfter(t *testing.T) {
	a := mock.NewOpenAI(mock.WithStatus(429, ""), mock.WithHeader("Retry-After", "3"))
	b := mock.NewOpenAI()
	defer a.Close()
	defer b.Close()
	base, _ := startGatewayWorkers(t, host.EnvoyFixed, multiRoute(a, b, "fallback_strategy: instance_health_and_rate_limiting"), 2)
	const req = `{"messages":[{"role":"user","content":"hi"}]}`
	if status, _ := chat(t, base, req); status != 429 {
		t.Fatalf("first request: %d, want a's 429 (weight 8 of 10)", status)
	}
	limited := time.Now()
	time.Sleep(1500 * time.Millisecond) // past a 1 s backoff, within Retry-After
	for i := range 6 {
		if status, body := chat(t, base, req); status != 200 {
			t.Fatalf("request %d during the cooldown: %d %s", i, status, body)
		}
	}
	if a.Count() != 1 {
		t.Fatalf("a got %d requests, want only the first during its cooldown", a.Count())
	}
	time.Sleep(time.Until(limited.Add(3500 * time.Millisecond)))
	for range 4 {
		chat(t, base, req)
	}
	if a.Count() == 1 {
		t.Fatal("a got no request once Retry-After passed")
	}
}

// APISIX cannot tick: active checks are reported at configure time, and
// passive health still works within the worker.
func TestHealthOnAPISIX(t *testing.T) {
	a := mock.NewOpenAI(mock.WithStatus(503, ""), mock.WithHeader("Retry-After", "30"))
	b := mock.NewOpenAI()
	defer a.Close()
	defer b.Close()
	hs := newHealthServer(t, a)
	base, g := startGatewayWorkers(t, host.APISIX, healthRoute(hs, a, b, activeChecks, "fallback_strategy: instance_health_and_rate_limiting"), 1)
	warned := false
	for _, l := range g.VMs()[0].Logs() {
		warned = warned || strings.Contains(l.Msg, "instances[0].checks.active is not supported on this host")
	}
	if !warned {
		t.Fatal("no warning that active checks cannot run")
	}
	const req = `{"messages":[{"role":"user","content":"hi"}]}`
	if status, _ := chat(t, base, req); status != 503 {
		t.Fatalf("first request: %d, want a's 503", status)
	}
	for i := range 5 {
		if status, body := chat(t, base, req); status != 200 {
			t.Fatalf("request %d: %d %s", i, status, body)
		}
	}
	if a.Count() != 1 || hs.probeCount() != 0 {
		t.Fatalf("a got %d requests and %d probes, want 1 and none", a.Count(), hs.probeCount())
	}
}
