package e2e

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

// modelHosts are the ways a request routed by model reaches its instance:
// Envoy holding the headers until the body has named the model
// (allow_on_headers_stop_iteration), Envoy (also before 1.35, where a held
// header stops the body too) and APISIX sending a callout.
var modelHosts = []struct {
	name    string
	profile host.Profile
	extra   string
}{
	{"envoy-fixed held", host.EnvoyFixed, "allow_on_headers_stop_iteration: true"},
	{"envoy-fixed callout", host.EnvoyFixed, ""},
	{"envoy callout", host.Envoy, ""},
	{"apisix", host.APISIX, ""},
}

// The seed's "proxy to selected model using request body parameter"
// example, which APISIX builds from two routes matching post_arg.model on
// one URI, is one ai-proxy-multi route here: each instance lists the model
// it serves, and the body's model picks it, on hosts whose routes cannot
// see the body. A model neither serves is refused with 404
// model_not_found, and nothing goes upstream.
func TestMultiRoutesByModelAsTheSeedExample(t *testing.T) {
	for _, hc := range modelHosts {
		t.Run(hc.name, func(t *testing.T) {
			openai := mock.NewOpenAI(mock.WithAPIKey("sk-openai"))
			deepseek := mock.NewOpenAI(mock.WithAPIKey("sk-deepseek"))
			defer openai.Close()
			defer deepseek.Close()
			base, _ := startGatewayWorkers(t, hc.profile, `routes:
  - id: by-model
    uri: /anything
    plugins:
      ai-proxy-multi:
        instances:
          - name: openai
            provider: openai
            weight: 1
            models: [openai]
            auth: {header: {Authorization: Bearer sk-openai}}
            options: {model: gpt-4}
          - name: deepseek
            provider: deepseek
            weight: 1
            models: [deepseek]
            auth: {header: {Authorization: Bearer sk-deepseek}}
            options: {model: deepseek-chat}
`+indent(hc.extra, 8)+`
clusters:
  api.openai.com: `+openai.URL+`
  api.deepseek.com: `+deepseek.URL+"\n", 1)
			const messages = `"messages":[{"role":"system","content":"You are a mathematician"},{"role":"user","content":"What is 1+1?"}]`
			for _, tc := range []struct {
				model, wantModel string
				reached          *mock.Server
			}{
				{"openai", "gpt-4", openai},
				{"deepseek", "deepseek-chat", deepseek},
				{"deepseek", "deepseek-chat", deepseek},
				{"openai", "gpt-4", openai},
			} {
				before := tc.reached.Count()
				status, _, body := send(t, "POST", base+"/anything", `{"model":"`+tc.model+`",`+messages+`}`)
				if status != 200 || gjson.GetBytes(body, "model").Str != tc.wantModel {
					t.Fatalf("model %s: %d %s", tc.model, status, body)
				}
				if tc.reached.Count() != before+1 || tc.reached.Last().Model != tc.wantModel ||
					tc.reached.Last().Header.Get("Authorization") != "Bearer sk-"+tc.model {
					t.Fatalf("model %s did not reach its instance: %+v", tc.model, tc.reached.Last())
				}
			}
			if openai.Count() != 2 || deepseek.Count() != 2 {
				t.Fatalf("openai got %d, deepseek %d; want 2 each", openai.Count(), deepseek.Count())
			}

			status, _, body := send(t, "POST", base+"/anything", `{"model":"llama",`+messages+`}`)
			e := gjson.ParseBytes(body)
			if status != 404 || e.Get("error.code").Str != "model_not_found" || !strings.Contains(e.Get("error.message").Str, `"llama"`) {
				t.Fatalf("unknown model: %d %s", status, body)
			}
			if openai.Count()+deepseek.Count() != 4 {
				t.Fatalf("the refused request reached a provider")
			}
		})
	}
}

// byModelRoute is an ai-proxy-multi route on /v1/* over two mocks: "a"
// serves the gpt-* models, "b" o3 and o4-mini; extra is more YAML of the
// plugin.
func byModelRoute(a, b *mock.Server, extra string) string {
	return `routes:
  - id: by-model
    uri: /v1/*
    plugins:
      ai-proxy-multi:
        instances:
          - name: a
            provider: openai-compatible
            weight: 1
            models: ["gpt-*"]
            auth: {header: {Authorization: Bearer key-a}}
            override: {endpoint: "http://a.test/v1/chat/completions"}
          - name: b
            provider: openai-compatible
            weight: 1
            models: [o3, o4-mini]
            auth: {header: {Authorization: Bearer key-b}}
            override: {endpoint: "http://b.test/v1/chat/completions"}
` + indent(extra, 8) + `
clusters:
  a.test: ` + a.URL + `
  b.test: ` + b.URL + "\n"
}

// twoMocks starts OpenAI mocks "a" and "b", which want the keys key-a and
// key-b, for the length of the test.
func twoMocks(t *testing.T) (a, b *mock.Server) {
	a, b = mock.NewOpenAI(mock.WithAPIKey("key-a")), mock.NewOpenAI(mock.WithAPIKey("key-b"))
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)
	return a, b
}

// A stream routed by model streams from its instance.
func TestMultiRoutesByModelStreams(t *testing.T) {
	for _, hc := range modelHosts {
		t.Run(hc.name, func(t *testing.T) {
			a, b := twoMocks(t)
			base, _ := startGateway(t, hc.profile, byModelRoute(a, b, hc.extra))
			for _, model := range []string{"o3", "gpt-5"} {
				status, body := chat(t, base, `{"model":"`+model+`","messages":[{"role":"user","content":"stream me"}],"stream":true}`)
				if status != 200 || !strings.Contains(body, "data: ") || !strings.Contains(body, "[DONE]") {
					t.Fatalf("%s: %d %s", model, status, body)
				}
			}
			if a.Count() != 1 || b.Count() != 1 || a.Last().Model != "gpt-5" || b.Last().Model != "o3" {
				t.Fatalf("a got %d (%s), b %d (%s)", a.Count(), a.Last().Model, b.Count(), b.Last().Model)
			}
		})
	}
}

// GET /v1/models on a route whose instances list models is answered by
// the filter in OpenAI's list format, without asking a provider; one
// model is read from the instance serving it.
func TestMultiListsModels(t *testing.T) {
	for _, profile := range multiProfiles {
		t.Run(profile.String(), func(t *testing.T) {
			a, b := twoMocks(t)
			base, _ := startGateway(t, profile, byModelRoute(a, b, ""))
			status, h, body := send(t, "GET", base+"/v1/models", "")
			want := `{"object":"list","data":[{"id":"o3","object":"model","created":0,"owned_by":"b"},{"id":"o4-mini","object":"model","created":0,"owned_by":"b"}]}`
			if status != 200 || string(body) != want || !strings.Contains(h.Get("Content-Type"), "application/json") {
				t.Fatalf("GET /v1/models: %d %s %s\nwant %s", status, h.Get("Content-Type"), body, want)
			}
			if a.Count()+b.Count() != 0 {
				t.Fatalf("the listing asked a provider")
			}
			status, _, body = send(t, "GET", base+"/v1/models/o4-mini", "")
			if status != 200 || b.Count() != 1 || b.Last().Path != "/v1/models/o4-mini" || b.Last().Header.Get("Authorization") != "Bearer key-b" {
				t.Fatalf("GET /v1/models/o4-mini: %d %s; b got %d", status, body, b.Count())
			}
			status, _, body = send(t, "GET", base+"/v1/models/llama", "")
			if status != 404 || gjson.GetBytes(body, "error.code").Str != "model_not_found" || a.Count() != 0 || b.Count() != 1 {
				t.Fatalf("GET /v1/models/llama: %d %s", status, body)
			}
		})
	}
}
