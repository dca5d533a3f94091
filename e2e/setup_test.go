package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/gateway"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host/hosttest"
)

// profiles are the hosts every e2e test runs under unless it says why not.
var profiles = []host.Profile{host.Envoy, host.EnvoyFixed, host.APISIX}

// startGateway serves yamlConfig through the real .wasm under profile and
// returns the gateway's base URL.
func startGateway(t *testing.T, profile host.Profile, yamlConfig string) (string, *gateway.Gateway) {
	t.Helper()
	cfg, err := gateway.ParseConfig([]byte(yamlConfig))
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(context.Background(), hosttest.Filter(t), cfg, gateway.Options{Profile: profile, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(func() { srv.Close(); g.Close() })
	return srv.URL, g
}

// indent shifts a YAML fragment right by n spaces (for embedding).
func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := range lines {
		lines[i] = pad + lines[i]
	}
	return strings.Join(lines, "\n")
}

// oneRoute is a gateway config with one route using plugin (YAML) and clusters.
func oneRoute(uri, plugin string, clusters map[string]string) string {
	var b strings.Builder
	b.WriteString("routes:\n  - id: r\n    uri: " + uri + "\n    plugins:\n      ai-proxy:\n")
	b.WriteString(indent(plugin, 8) + "\n")
	if len(clusters) > 0 {
		b.WriteString("clusters:\n")
		for k, v := range clusters {
			b.WriteString("  " + k + ": " + v + "\n")
		}
	}
	return b.String()
}

// startGatewayWorkers is startGateway with n workers (VMs).
func startGatewayWorkers(t *testing.T, profile host.Profile, yamlConfig string, n int) (string, *gateway.Gateway) {
	t.Helper()
	cfg, err := gateway.ParseConfig([]byte(yamlConfig))
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(context.Background(), hosttest.Filter(t), cfg, gateway.Options{Profile: profile, Workers: n})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(func() { srv.Close(); g.Close() })
	return srv.URL, g
}

// The local gateway's default configuration (make run) serves every route
// it declares against the embedded mock.
func TestLocalExampleConfig(t *testing.T) {
	cfg, err := gateway.LoadConfig("../examples/local/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(context.Background(), hosttest.Filter(t), cfg, gateway.Options{Profile: host.EnvoyFixed, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	defer func() { srv.Close(); g.Close() }()
	for path, body := range map[string]string{
		"/v1/chat/completions": `{"messages":[{"role":"user","content":"Hello!"}]}`,
		"/v1/embeddings":       `{"input":"hi"}`,
		"/v1/messages":         `{"model":"claude","max_tokens":100,"messages":[{"role":"user","content":"Hi Claude"}]}`,
	} {
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !(strings.Contains(string(b), "You said:") || strings.Contains(string(b), `"embedding"`)) {
			t.Errorf("%s: %d %s", path, resp.StatusCode, b)
		}
	}
}
