package envoytest

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/envoy"
	gw "github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/gateway"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

// An ai-rate-limiting budget is one budget for every Envoy worker: after
// the request that spends it, every request is refused, whichever worker
// its connection landed on (each request opens its own connection, which
// the kernel spreads over the workers' sockets).
func TestBudgetSharedByEnvoyWorkers(t *testing.T) {
	forEachEnvoy(t, func(t *testing.T, b envoy.Binary) {
		listen, e, m := startBudgetEnvoy(t, b, `ai-rate-limiting: {limit: 1, time_window: 100000000, rejected_code: 429}`)
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		const n = 30
		for i := range n {
			resp, err := client.Post("http://"+listen+"/v1/chat/completions", "application/json",
				strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := 429
			if i == 0 {
				want = 200
			}
			if resp.StatusCode != want {
				t.Fatalf("request %d: %d %s, want %d", i, resp.StatusCode, body, want)
			}
		}
		if m.Count() != 1 {
			t.Errorf("the mock served %d requests, want 1", m.Count())
		}
		// Both workers took connections (2^-29 odds against by chance).
		resp, err := http.Get(e.Admin + "/stats?filter=worker_[0-9]+\\.downstream_cx_total")
		if err != nil {
			t.Fatal(err)
		}
		stats, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		workers := 0
		for _, mm := range regexp.MustCompile(`worker_\d+\.downstream_cx_total: (\d+)`).FindAllStringSubmatch(string(stats), -1) {
			if c, _ := strconv.Atoi(mm[1]); c > 0 {
				workers++
			}
		}
		if workers < 2 {
			t.Errorf("connections reached %d worker(s), want both: %s", workers, stats)
		}
	})
}

// startBudgetEnvoy runs Envoy with two workers and one route: the given
// ai-rate-limiting (a YAML line) over ai-proxy and a mock provider. It
// returns the listener's address, the Envoy and the mock.
func startBudgetEnvoy(t *testing.T, b envoy.Binary, rateLimiting string) (string, *envoy.Envoy, *mock.Server) {
	t.Helper()
	m := mock.NewOpenAI(mock.WithAPIKey("key-a"))
	t.Cleanup(m.Close)
	cfg, err := gw.ParseConfig([]byte(`
routes:
  - id: budget
    uri: /v1/chat/completions
    plugins:
      ` + rateLimiting + `
      ai-proxy:
        provider: openai-compatible
        auth: {header: {Authorization: Bearer key-a}}
        override: {endpoint: "http://budget.test/v1/chat/completions"}
`))
	if err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	conf, err := envoy.GatewayConfig(cfg, envoy.GatewayOptions{Module: envoy.Module(t), Listen: listen,
		Targets: map[string]string{"budget.test": m.URL}})
	if err != nil {
		t.Fatal(err)
	}
	return listen, envoy.Start(t, b, conf, envoy.Options{Concurrency: 2}), m
}
