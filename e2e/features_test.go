package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

// Embeddings and the Responses API (plain and streamed) with the official
// client, under every profile.
func TestEmbeddingsAndResponsesWithOfficialClient(t *testing.T) {
	for _, profile := range profiles {
		t.Run(profile.String(), func(t *testing.T) {
			m := mock.NewOpenAI(mock.WithAPIKey("operator-key"))
			defer m.Close()
			cfg := "routes:\n" +
				"  - {id: e, uri: /v1/embeddings, plugins: {ai-proxy: {provider: openai, auth: {header: {Authorization: Bearer operator-key}}, options: {model: text-embedding-3-small}}}}\n" +
				"  - {id: r, uri: /v1/responses, plugins: {ai-proxy: {provider: openai, auth: {header: {Authorization: Bearer operator-key}}}}}\n" +
				"clusters:\n  api.openai.com: " + m.URL + "\n"
			base, _ := startGateway(t, profile, cfg)
			c := client(base)
			ctx := context.Background()

			emb, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{
				Model: "ignored", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"alpha beta", "gamma"}}})
			if err != nil {
				t.Fatal(err)
			}
			if len(emb.Data) != 2 || len(emb.Data[0].Embedding) == 0 || emb.Usage.PromptTokens != 3 {
				t.Fatalf("embeddings %+v", emb.Usage)
			}
			if m.Last().Path != "/v1/embeddings" || m.Last().Get("model").Str != "text-embedding-3-small" {
				t.Fatalf("upstream %s %s", m.Last().Path, m.Last().Body)
			}

			r, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-4.1", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hello responses")}})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(r.OutputText(), "hello responses") {
				t.Fatalf("responses output %q", r.OutputText())
			}
			if m.Last().Path != "/v1/responses" || m.Last().Get("stream_options").Exists() {
				t.Fatalf("upstream %s %s", m.Last().Path, m.Last().Body)
			}

			st := c.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: "gpt-4.1", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("stream responses")}})
			text := ""
			completed := false
			for st.Next() {
				ev := st.Current()
				if ev.Type == "response.output_text.delta" {
					text += ev.Delta
				}
				if ev.Type == "response.completed" {
					completed = true
				}
			}
			if err := st.Err(); err != nil {
				t.Fatal(err)
			}
			if !completed || !strings.Contains(text, "stream responses") {
				t.Fatalf("responses stream text %q completed %v", text, completed)
			}
			if m.Last().Get("stream_options").Exists() {
				t.Fatal("stream_options must never be added to the Responses API")
			}
		})
	}
}

// Usage, model and TTFT reach the access-log values and the metrics.
func TestObservability(t *testing.T) {
	for _, profile := range []host.Profile{host.Envoy, host.APISIX} {
		t.Run(profile.String(), func(t *testing.T) {
			m := mock.NewOpenAI(mock.WithCachedTokens(2))
			defer m.Close()
			conf := `{"provider":"openai","auth":{"header":{"Authorization":"Bearer sk-secret-operator"}},"options":{"model":"gpt-4o"},"logging":{"summaries":true,"payloads":true}}`
			r := newRig(t, profile, conf, map[string]string{"api.openai.com": m.URL})
			resp := r.do(t, "/v1/chat/completions", `{"model":"asked","stream":true,"messages":[{"role":"user","content":"one two three"}]}`)
			if resp.Status != 200 {
				t.Fatalf("%d %s", resp.Status, resp.Body)
			}
			key := func(k string) string {
				if profile == host.APISIX {
					return k
				}
				return "wasm." + k
			}
			fs := resp.FilterState
			want := map[string]string{"request_type": "ai_stream", "llm_model": "gpt-4o", "request_llm_model": "asked",
				"llm_prompt_tokens": "5", "llm_completion_tokens": "5", "llm_total_tokens": "10", "llm_cache_read_input_tokens": "2"}
			for k, v := range want {
				if fs[key(k)] != v {
					t.Errorf("%s = %q, want %q (all: %v)", k, fs[key(k)], v, fs)
				}
			}
			if fs[key("llm_time_to_first_token")] == "" {
				t.Error("no time to first token")
			}
			var summary string
			for _, l := range resp.Logs {
				if strings.Contains(l.Msg, "sk-secret-operator") || strings.Contains(l.Msg, "client-secret") {
					t.Fatalf("a credential reached the log: %s", l.Msg)
				}
				if strings.HasPrefix(l.Msg, "ai-proxy summary: ") {
					summary = strings.TrimPrefix(l.Msg, "ai-proxy summary: ")
				}
			}
			s := gjson.Parse(summary)
			if s.Get("model").Str != "gpt-4o" || s.Get("prompt_tokens").Int() != 5 || s.Get("status").Int() != 200 {
				t.Fatalf("summary %q", summary)
			}
			if profile == host.APISIX {
				return // wasm-nginx-module's metrics calls are no-ops
			}
			c, ok := r.shared.Metric("wasmcustom.llm_requests_total.provider.openai.model.gpt-4o.status.2xx")
			if !ok || c.Value != 1 {
				t.Fatalf("request counter %+v %v", c, ok)
			}
			tok, _ := r.shared.Metric("wasmcustom.llm_tokens_total.provider.openai.model.gpt-4o.kind.completion")
			lat, _ := r.shared.Metric("wasmcustom.llm_latency_ms.provider.openai.model.gpt-4o.status.2xx")
			if tok.Value != 5 || len(lat.Samples) != 1 {
				t.Fatalf("tokens %+v latency %+v", tok, lat)
			}
		})
	}
}

// Bad input never reaches the provider and never kills the VM: each gets
// an OpenAI error JSON with the right status.
func TestBadInputE2E(t *testing.T) {
	tests := []struct {
		name, ctype, body string
		status            int
		want              string
	}{
		{"empty", "application/json", "", 400, "empty"},
		{"invalid json", "application/json", `{"messages":[`, 400, "byte offset"},
		{"not json", "text/plain", "hello", 400, "Content-Type"},
		{"not AI", "application/json", `{"hello":"world"}`, 400, "not a recognised AI request"},
		{"too large", "application/json", `{"messages":[{"role":"user","content":"` + strings.Repeat("x", 3000) + `"}]}`, 413, "max_req_body_size"},
	}
	for _, profile := range profiles {
		m := mock.NewOpenAI()
		conf := `{"provider":"openai","auth":{"header":{"Authorization":"Bearer k"}},"max_req_body_size":2048}`
		r := newRig(t, profile, conf, map[string]string{"api.openai.com": m.URL})
		for _, tc := range tests {
			t.Run(profile.String()+"/"+tc.name, func(t *testing.T) {
				before := m.Count()
				req := &host.Request{Method: "POST", Path: "/anything", Authority: "gw", Body: []byte(tc.body),
					Header: [][2]string{{"content-type", tc.ctype}}}
				resp, err := r.p.Do(context.Background(), req, host.Options{Upstream: host.HTTPUpstream(nil, r.resolve)})
				if err != nil {
					t.Fatal(err)
				}
				if resp.Status != tc.status || !strings.Contains(gjson.GetBytes(resp.Body, "error.message").Str, tc.want) {
					t.Fatalf("%d %s", resp.Status, resp.Body)
				}
				if m.Count() != before {
					t.Fatal("bad input reached the provider")
				}
			})
		}
		if err := r.p.VM().Dead(); err != nil {
			t.Fatal(err)
		}
		m.Close()
	}
}
