package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/gateway"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host/hosttest"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

// envKey is the key the tests put in the filter's environment.
const envKey = "sk-from-the-vm-environment"

// A credential written as $env://NAME is resolved from the environment the
// host gives the VM (Envoy's vm_config.environment_variables, the nginx
// worker's environment on APISIX), and the provider sees the key.
func TestEnvReferenceReachesTheProvider(t *testing.T) {
	tests := []struct{ name, header, env string }{
		{"after a literal prefix", `"Bearer $env://OPENAI_API_KEY"`, envKey},
		{"whole value", `"$env://OPENAI_AUTHORIZATION"`, "Bearer " + envKey},
		{"JSON member", `"$ENV://OPENAI_JSON/authorization"`, `{"authorization":"Bearer ` + envKey + `"}`},
	}
	for _, profile := range profiles {
		for _, tc := range tests {
			t.Run(profile.String()+"/"+tc.name, func(t *testing.T) {
				m := mock.NewOpenAI(mock.WithAPIKey(envKey))
				defer m.Close()
				plugin := "provider: openai\nauth:\n  header:\n    Authorization: " + tc.header + "\n"
				cfg, err := gateway.ParseConfig([]byte(oneRoute("/v1/chat/completions", plugin, map[string]string{"api.openai.com": m.URL})))
				if err != nil {
					t.Fatal(err)
				}
				env := map[string]string{"OPENAI_API_KEY": envKey, "OPENAI_AUTHORIZATION": "Bearer " + envKey, "OPENAI_JSON": tc.env}
				g, err := gateway.New(context.Background(), hosttest.Filter(t), cfg, gateway.Options{Profile: profile, Workers: 1, Env: env})
				if err != nil {
					t.Fatal(err)
				}
				srv := httptest.NewServer(g)
				defer func() { srv.Close(); g.Close() }()
				resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json",
					strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				if got := m.Last().Header.Get("Authorization"); got != "Bearer "+envKey {
					t.Fatalf("the provider saw Authorization %q", got)
				}
			})
		}
	}
}

// The local gateway passes the variables a configuration refers to, as
// Envoy's host_env_keys, and its file's env section, as key_values: `make
// run` works with $env:// and a key exported in the shell.
func TestGatewayPassesReferencedVariables(t *testing.T) {
	t.Setenv("AI_PROXY_TEST_KEY", envKey)
	t.Setenv("AI_PROXY_UNREFERENCED", "must-not-reach-the-vm")
	m := mock.NewOpenAI(mock.WithAPIKey(envKey))
	defer m.Close()
	cfg, err := gateway.ParseConfig([]byte(oneRoute("/v1/chat/completions",
		"{provider: openai, auth: {header: {Authorization: \"Bearer $env://AI_PROXY_TEST_KEY\"}}}",
		map[string]string{"api.openai.com": m.URL}) + "env:\n  FROM_FILE: ${AI_PROXY_TEST_KEY}\n"))
	if err != nil {
		t.Fatal(err)
	}
	env := gateway.EnvFromOS(cfg)
	if env["AI_PROXY_TEST_KEY"] != envKey || env["AI_PROXY_UNREFERENCED"] != "" {
		t.Fatalf("EnvFromOS gave %v", env)
	}
	if cfg.Env["FROM_FILE"] != envKey {
		t.Fatalf("the env section is %v", cfg.Env)
	}
	g, err := gateway.New(context.Background(), hosttest.Filter(t), cfg, gateway.Options{Workers: 1, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	defer func() { srv.Close(); g.Close() }()
	resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || m.Last().Header.Get("Authorization") != "Bearer "+envKey {
		t.Fatalf("status %d, the provider saw %q", resp.StatusCode, m.Last().Header.Get("Authorization"))
	}
}

// A reference that cannot be resolved fails when the plugin is configured:
// the gateway does not start, and the filter's log line names the field and
// the variable, never a value of the environment.
func TestUnresolvableReferenceIsRefusedAtConfigure(t *testing.T) {
	tests := []struct{ name, header, want string }{
		{"unset variable", `"Bearer $env://OPENAI_API_KEY"`,
			"ai-proxy: auth.header.Authorization refers to the environment variable OPENAI_API_KEY, which is not set or empty"},
		{"$secret://", `"$secret://vault/1/openai/key"`,
			"ai-proxy: auth.header.Authorization is a $secret:// reference, which a proxy-wasm filter cannot resolve"},
	}
	for _, profile := range profiles {
		for _, tc := range tests {
			t.Run(profile.String()+"/"+tc.name, func(t *testing.T) {
				cfg, err := gateway.ParseConfig([]byte(oneRoute("/v1/chat/completions", "provider: openai\nauth:\n  header:\n    Authorization: "+tc.header+"\n", nil)))
				if err != nil {
					t.Fatal(err)
				}
				// The VM has other variables, which must not show.
				env := map[string]string{"OTHER_KEY": "sk-other-value"}
				g, err := gateway.New(context.Background(), hosttest.Filter(t), cfg, gateway.Options{Profile: profile, Workers: 1, Env: env})
				if err == nil {
					g.Close()
					t.Fatal("the gateway started with the configuration")
				}
				if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "sk-other-value") {
					t.Fatalf("error %q, want it to say %q and show no value", err, tc.want)
				}
			})
		}
	}
}
