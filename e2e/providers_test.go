package e2e

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host/hosttest"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

// rig is the filter configured on one VM, with provider hostnames mapped to
// mock servers for both forwarded requests and callouts.
type rig struct {
	p        *host.Plugin
	shared   *host.Shared
	clusters map[string]string
}

func (r *rig) resolve(name string) (string, bool) {
	if u, ok := r.clusters[name]; ok {
		return u, true
	}
	if h, _, err := net.SplitHostPort(name); err == nil {
		u, ok := r.clusters[h]
		return u, ok
	}
	return "", false
}

func newRig(t *testing.T, profile host.Profile, conf string, clusters map[string]string) *rig {
	t.Helper()
	ctx := context.Background()
	mod, err := host.Compile(ctx, hosttest.Filter(t))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{shared: host.NewShared(), clusters: clusters}
	vm, err := mod.NewVM(ctx, host.VMConfig{Profile: profile, Shared: r.shared, Clusters: r.resolve})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vm.Close)
	if r.p, err = vm.NewPlugin([]byte(conf)); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) do(t *testing.T, path, body string, header ...[2]string) *host.Response {
	t.Helper()
	req := &host.Request{Method: "POST", Path: path, Authority: "gateway.local", Body: []byte(body),
		Header: append([][2]string{{"content-type", "application/json"}, {"authorization", "Bearer client-secret"}}, header...)}
	resp, err := r.p.Do(context.Background(), req, host.Options{Upstream: host.HTTPUpstream(nil, r.resolve)})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// Every OpenAI-protocol provider reaches its default endpoint with its own
// auth style and max-tokens field, under Envoy and APISIX.
func TestProviderDefaultEndpoints(t *testing.T) {
	tests := []struct {
		provider, host, path, auth, maxField string
		extra                                string // more configuration
	}{
		{"openai", "api.openai.com", "/v1/chat/completions", `"header":{"Authorization":"Bearer k"}`, "max_completion_tokens", ""},
		{"deepseek", "api.deepseek.com", "/chat/completions", `"header":{"Authorization":"Bearer k"}`, "max_tokens", ""},
		{"aimlapi", "api.aimlapi.com", "/v1/chat/completions", `"header":{"Authorization":"Bearer k"}`, "max_tokens", ""},
		{"anthropic", "api.anthropic.com", "/v1/chat/completions", `"header":{"x-api-key":"k"}`, "max_tokens", ""},
		{"openrouter", "openrouter.ai", "/api/v1/chat/completions", `"header":{"Authorization":"Bearer k"}`, "max_tokens", ""},
		{"gemini", "generativelanguage.googleapis.com", "/v1beta/openai/chat/completions", `"query":{"key":"k"}`, "max_completion_tokens", ""},
		{"azure-openai", "res.openai.azure.com", "/openai/deployments/gpt4o/chat/completions", `"header":{"api-key":"k"}`, "max_tokens",
			`,"override":{"endpoint":"https://res.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21","llm_options":{"max_tokens":33}}`},
		{"openai-compatible", "llm.internal", "/v1/chat/completions", `"header":{"Authorization":"Bearer k"}`, "max_tokens",
			`,"override":{"endpoint":"https://llm.internal","llm_options":{"max_tokens":33}}`},
	}
	for _, profile := range []host.Profile{host.Envoy, host.APISIX} {
		for _, tc := range tests {
			t.Run(profile.String()+"/"+tc.provider, func(t *testing.T) {
				m := mock.NewOpenAI()
				defer m.Close()
				extra := tc.extra
				if extra == "" {
					extra = `,"override":{"llm_options":{"max_tokens":33}}`
				}
				conf := `{"provider":"` + tc.provider + `","auth":{` + tc.auth + `},"options":{"model":"m1"}` + extra + `}`
				r := newRig(t, profile, conf, map[string]string{tc.host: m.URL})
				resp := r.do(t, "/v1/chat/completions", `{"model":"client","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)
				if resp.Status != 200 || gjson.GetBytes(resp.Body, "choices.0.message.content").Str != "You said: hi" {
					t.Fatalf("%d %s", resp.Status, resp.Body)
				}
				up := m.Last()
				if up.Path != tc.path || up.Host != tc.host {
					t.Fatalf("upstream %s%s, want %s%s", up.Host, up.Path, tc.host, tc.path)
				}
				if up.Get(tc.maxField).Int() != 33 {
					t.Fatalf("%s not 33 in %s", tc.maxField, up.Body)
				}
				if tc.maxField == "max_completion_tokens" && up.Get("max_tokens").Exists() {
					t.Fatalf("max_tokens must be removed: %s", up.Body)
				}
				if up.Get("model").Str != "m1" {
					t.Fatalf("model %s", up.Body)
				}
				if strings.Contains(up.Header.Get("Authorization"), "client-secret") {
					t.Fatal("client credential leaked")
				}
				key, _ := strings.CutPrefix(tc.auth, `"header":{"`)
				if name, val, ok := strings.Cut(key, `":"`); ok && !strings.HasPrefix(tc.auth, `"query"`) {
					if got := up.Header.Get(name); got != strings.TrimSuffix(val, `"}`) {
						t.Fatalf("auth header %s = %q", name, got)
					}
				}
				if strings.HasPrefix(tc.auth, `"query"`) && !strings.Contains(up.RawQuery, "key=k") {
					t.Fatalf("query auth missing: %q", up.RawQuery)
				}
				if tc.provider == "azure-openai" && !strings.Contains(up.RawQuery, "api-version=2024-10-21") {
					t.Fatalf("azure api-version lost: %q", up.RawQuery)
				}
				fs := resp.FilterState
				prefix := ""
				if profile != host.APISIX {
					prefix = "wasm."
				}
				if fs[prefix+"llm_model"] != "m1" || fs[prefix+"request_llm_model"] != "client" || fs[prefix+"llm_prompt_tokens"] != "1" ||
					fs[prefix+"llm_completion_tokens"] != "3" || fs[prefix+"request_type"] != "ai_chat" {
					t.Fatalf("filter state %v", fs)
				}
			})
		}
	}
}
