package core

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

var envoyCaps = Caps{BodyRewrite: true, SharedData: true, Ticks: true}
var apisixCaps = Caps{ExplicitBody: true}

const openaiConf = `{"provider":"openai","auth":{"header":{"Authorization":"Bearer sk-operator"}},"options":{"model":"gpt-4o","temperature":0.2}}`

func clientHeaders(path string, extra ...[2]string) [][2]string {
	h := [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":authority", "gateway.local"}, {":path", path},
		{"content-type", "application/json"}, {"content-length", "123"}, {"authorization", "Bearer client-secret"},
		{"x-api-key", "client-secret"}, {"api-key", "client-secret"}, {"accept-encoding", "gzip"},
		{"connection", "keep-alive"}, {"x-request-id", "r1"},
	}
	return append(h, extra...)
}

func newStream(t *testing.T, conf string, caps Caps, headers [][2]string) (*Stream, *fakeHost) {
	t.Helper()
	cfg, err := ParseConfig([]byte(conf), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := newFakeHost(headers...)
	h.noRewrite = !caps.BodyRewrite
	return NewPlugin(cfg, caps, newFakeRoot()).NewStream(h), h
}

// sendRequest drives headers and a one-chunk body like Envoy does.
func sendRequest(t *testing.T, s *Stream, h *fakeHost, body string) (Action, Action) {
	t.Helper()
	a1 := s.OnRequestHeaders(append([][2]string(nil), h.reqHeaders...), false)
	if a1 == Continue && s.mode == modeInline {
		h.frozen = true
	}
	if h.local != nil {
		return a1, Pause
	}
	h.reqBody = []byte(body)
	return a1, s.OnRequestBody(len(body), true)
}

func TestInlineRequestRewrite(t *testing.T) {
	s, h := newStream(t, openaiConf, envoyCaps, clientHeaders("/v1/chat/completions"))
	a1, a2 := sendRequest(t, s, h, `{"model":"gpt-3.5","messages":[{"role":"user","content":"hi"}],"stream":true,"max_tokens":9}`)
	if a1 != Continue || a2 != Continue || h.local != nil {
		t.Fatalf("actions %v %v local %+v", a1, a2, h.local)
	}
	if h.writesAfter != 0 {
		t.Fatalf("%d header writes after the headers were released", h.writesAfter)
	}
	want := map[string]string{
		":authority": "api.openai.com", ":path": "/v1/chat/completions", ":scheme": "https",
		"authorization": "Bearer sk-operator", "x-request-id": "r1", "x-envoy-upstream-rq-timeout-ms": "0",
	}
	for k, v := range want {
		if got, _ := get(h.reqHeaders, k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"x-api-key", "api-key", "content-length", "accept-encoding", "connection"} {
		if _, ok := get(h.reqHeaders, k); ok {
			t.Errorf("header %s reached the provider", k)
		}
	}
	b := gjson.ParseBytes(h.reqBody)
	if b.Get("model").Str != "gpt-4o" || b.Get("temperature").Num != 0.2 || !b.Get("stream_options.include_usage").Bool() {
		t.Fatalf("body %s", h.reqBody)
	}
	if b.Get("max_tokens").Exists() || b.Get("max_completion_tokens").Int() != 9 {
		t.Fatalf("openai wants max_completion_tokens only: %s", h.reqBody)
	}
	if s.reqModel != "gpt-3.5" || s.model != "gpt-4o" {
		t.Fatalf("models %q %q", s.reqModel, s.model)
	}
}

func TestEndpointAndQuery(t *testing.T) {
	tests := []struct {
		name, conf, path      string
		authority, upPath, sc string
	}{
		{"full path replaces provider path",
			`{"provider":"openai-compatible","auth":{"header":{"a":"b"}},"override":{"endpoint":"http://127.0.0.1:8000/custom/chat"}}`,
			"/v1/chat/completions", "127.0.0.1:8000", "/custom/chat", "http"},
		{"host only keeps provider path",
			`{"provider":"openai","auth":{"header":{"a":"b"}},"override":{"endpoint":"https://proxy.example.com"}}`,
			"/v1/chat/completions", "proxy.example.com", "/v1/chat/completions", "https"},
		{"openai-compatible host only uses the OpenAI path",
			`{"provider":"openai-compatible","auth":{"header":{"a":"b"}},"override":{"endpoint":"https://llm.example.com"}}`,
			"/v1/embeddings", "llm.example.com", "/v1/embeddings", "https"},
		{"auth query merged with endpoint query",
			`{"provider":"azure-openai","auth":{"query":{"key":"secret"}},"override":{"endpoint":"https://r.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21"}}`,
			"/v1/chat/completions", "r.openai.azure.com", "/openai/deployments/d/chat/completions?api-version=2024-10-21&key=secret", "https"},
		{"deepseek default",
			`{"provider":"deepseek","auth":{"header":{"a":"b"}}}`, "/anything", "api.deepseek.com", "/chat/completions", "https"},
		{"gemini default",
			`{"provider":"gemini","auth":{"header":{"a":"b"}}}`, "/v1/chat/completions", "generativelanguage.googleapis.com", "/v1beta/openai/chat/completions", "https"},
		{"openrouter default",
			`{"provider":"openrouter","auth":{"header":{"a":"b"}}}`, "/v1/chat/completions", "openrouter.ai", "/api/v1/chat/completions", "https"},
		{"aimlapi default",
			`{"provider":"aimlapi","auth":{"header":{"a":"b"}}}`, "/v1/chat/completions", "api.aimlapi.com", "/v1/chat/completions", "https"},
		{"vertex regional",
			`{"provider":"vertex-ai","provider_conf":{"project_id":"p1","region":"europe-west4"},"auth":{"header":{"authorization":"Bearer t"}}}`,
			"/v1/chat/completions", "europe-west4-aiplatform.googleapis.com", "/v1beta1/projects/p1/locations/europe-west4/endpoints/openapi/chat/completions", "https"},
		{"vertex global",
			`{"provider":"vertex-ai","provider_conf":{"project_id":"p1","region":"global"},"auth":{"header":{"authorization":"Bearer t"}}}`,
			"/v1/chat/completions", "aiplatform.googleapis.com", "/v1beta1/projects/p1/locations/global/endpoints/openapi/chat/completions", "https"},
		{"vertex endpoint override bypasses provider_conf",
			`{"provider":"vertex-ai","auth":{"header":{"authorization":"Bearer t"}},"override":{"endpoint":"https://vx.example.com/v1/custom/chat"}}`,
			"/v1/chat/completions", "vx.example.com", "/v1/custom/chat", "https"},
		{"anthropic openai-compatible default",
			`{"provider":"anthropic","auth":{"header":{"x-api-key":"b"}}}`, "/v1/chat/completions", "api.anthropic.com", "/v1/chat/completions", "https"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i < 2; i++ { // a second request sees the same target: the config is never mutated
				s, h := newStream(t, tc.conf, envoyCaps, clientHeaders(tc.path))
				body := `{"messages":[{"role":"user","content":"hi"}]}`
				if strings.HasSuffix(tc.path, "embeddings") {
					body = `{"input":"hi","model":"m"}`
				}
				sendRequest(t, s, h, body)
				if h.local != nil {
					t.Fatalf("local reply %d %s", h.local.status, h.local.body)
				}
				if a, _ := get(h.reqHeaders, ":authority"); a != tc.authority {
					t.Errorf(":authority %q, want %q", a, tc.authority)
				}
				if p, _ := get(h.reqHeaders, ":path"); p != tc.upPath {
					t.Errorf(":path %q, want %q", p, tc.upPath)
				}
				if sc, _ := get(h.reqHeaders, ":scheme"); sc != tc.sc {
					t.Errorf(":scheme %q, want %q", sc, tc.sc)
				}
			}
		})
	}
}

func TestBodyOverrides(t *testing.T) {
	tests := []struct {
		name, conf, body string
		want             map[string]string // gjson path → raw JSON
		absent           []string
	}{
		{"llm_options max_tokens to openai field",
			`{"provider":"openai","auth":{"header":{"a":"b"}},"override":{"llm_options":{"max_tokens":50}}}`,
			`{"messages":[{"role":"user","content":"hi"}],"max_tokens":9,"max_completion_tokens":8}`,
			map[string]string{"max_completion_tokens": "50"}, []string{"max_tokens"}},
		{"llm_options max_tokens to deepseek field",
			`{"provider":"deepseek","auth":{"header":{"a":"b"}},"override":{"llm_options":{"max_tokens":50}}}`,
			`{"messages":[{"role":"user","content":"hi"}],"max_tokens":9}`, map[string]string{"max_tokens": "50"}, nil},
		{"request_body fills gaps by default",
			`{"provider":"deepseek","auth":{"header":{"a":"b"}},"override":{"request_body":{"openai-chat":{"temperature":1,"top_p":0.5,"response_format":{"type":"json_object"},"stop":["x"]}}}}`,
			`{"messages":[{"role":"user","content":"hi"}],"temperature":0.1,"response_format":{"schema":1},"stop":["a","b"]}`,
			map[string]string{"temperature": "0.1", "top_p": "0.5", "response_format": `{"schema":1,"type":"json_object"}`, "stop": `["a","b"]`}, nil},
		{"request_body force overwrites; objects still merge",
			`{"provider":"deepseek","auth":{"header":{"a":"b"}},"override":{"request_body_force_override":true,"request_body":{"openai-chat":{"temperature":1,"response_format":{"type":"json_object"},"stop":["x"]}}}}`,
			`{"messages":[{"role":"user","content":"hi"}],"temperature":0.1,"response_format":{"schema":1,"type":"text"},"stop":["a","b"]}`,
			map[string]string{"temperature": "1", "response_format": `{"schema":1,"type":"json_object"}`, "stop": `["x"]`}, nil},
		{"request_body applies after llm_options",
			`{"provider":"deepseek","auth":{"header":{"a":"b"}},"override":{"request_body_force_override":true,"llm_options":{"max_tokens":5},"request_body":{"openai-chat":{"max_tokens":7}}}}`,
			`{"messages":[{"role":"user","content":"hi"}]}`, map[string]string{"max_tokens": "7"}, nil},
		{"request_body for another protocol is ignored",
			`{"provider":"deepseek","auth":{"header":{"a":"b"}},"override":{"request_body":{"openai-embeddings":{"dimensions":3}}}}`,
			`{"messages":[{"role":"user","content":"hi"}]}`, nil, []string{"dimensions"}},
		{"options merged with dotted keys kept whole",
			`{"provider":"deepseek","auth":{"header":{"a":"b"}},"options":{"model":"m1","a.b":1}}`,
			`{"messages":[{"role":"user","content":"hi"}],"model":"m0"}`, map[string]string{"model": `"m1"`, `a\.b`: "1"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, h := newStream(t, tc.conf, envoyCaps, clientHeaders("/v1/chat/completions"))
			sendRequest(t, s, h, tc.body)
			if h.local != nil {
				t.Fatalf("local reply %d %s", h.local.status, h.local.body)
			}
			for path, raw := range tc.want {
				got := gjson.GetBytes(h.reqBody, path)
				if !jsonEqual(got.Raw, raw) {
					t.Errorf("%s = %s, want %s (body %s)", path, got.Raw, raw, h.reqBody)
				}
			}
			for _, path := range tc.absent {
				if gjson.GetBytes(h.reqBody, path).Exists() {
					t.Errorf("%s present in %s", path, h.reqBody)
				}
			}
		})
	}
}

func jsonEqual(a, b string) bool {
	return gjson.Parse(a).String() == gjson.Parse(b).String() || normalize(a) == normalize(b)
}

func normalize(s string) string {
	r := gjson.Parse(s)
	if !r.IsObject() {
		return r.Raw
	}
	// Objects: compare key by key so order does not matter.
	var keys []string
	r.ForEach(func(k, v gjson.Result) bool { keys = append(keys, k.Str+"="+normalize(v.Raw)); return true })
	sortStrings(keys)
	return strings.Join(keys, ",")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name   string
		ctype  string
		path   string
		body   string
		conf   string
		status int
		want   string
	}{
		{"empty body", "application/json", "/v1/chat/completions", "", openaiConf, 400, "request body is empty"},
		{"invalid json", "application/json", "/v1/chat/completions", `{"messages":[}`, openaiConf, 400, "offset"},
		{"non-json content type", "text/plain", "/v1/chat/completions", `{}`, openaiConf, 400, "Content-Type must be application/json"},
		{"not an object", "application/json", "/v1/chat/completions", `[1,2]`, openaiConf, 400, "must be a JSON object"},
		{"no AI protocol", "application/json", "/anything", `{"foo":1}`, openaiConf, 400, "not a recognised AI request"},
		{"chat without messages", "application/json", "/v1/chat/completions", `{"input":"x"}`, openaiConf, 400, `openai-chat request needs a`},
		{"body too large", "application/json", "/v1/chat/completions", `{"messages":[{"role":"user","content":"` + strings.Repeat("x", 100) + `"}]}`,
			`{"provider":"openai","auth":{"header":{"a":"b"}},"max_req_body_size":50}`, 413, "exceeds max_req_body_size 50"},
		{"provider does not serve protocol", "application/json", "/v1/responses", `{"input":"x"}`,
			`{"provider":"deepseek","auth":{"header":{"a":"b"}}}`, 400, `does not serve openai-responses`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdrs := clientHeaders(tc.path)
			for i := range hdrs {
				if hdrs[i][0] == "content-type" {
					hdrs[i][1] = tc.ctype
				}
			}
			s, h := newStream(t, tc.conf, envoyCaps, hdrs)
			sendRequest(t, s, h, tc.body)
			if h.local == nil {
				t.Fatalf("no local reply; body sent upstream: %s", h.reqBody)
			}
			if h.local.status != tc.status || !strings.Contains(string(h.local.body), tc.want) {
				t.Fatalf("got %d %s, want %d containing %q", h.local.status, h.local.body, tc.status, tc.want)
			}
			e := gjson.ParseBytes(h.local.body)
			if e.Get("error.message").Str == "" || e.Get("error.type").Str == "" {
				t.Fatalf("not an OpenAI error: %s", h.local.body)
			}
			if ct, _ := get(h.local.headers, "content-type"); ct != "application/json" {
				t.Fatalf("content-type %q", ct)
			}
		})
	}
}

func TestCalloutModeOnAPISIX(t *testing.T) {
	s, h := newStream(t, openaiConf, apisixCaps, clientHeaders("/v1/chat/completions"))
	a1 := s.OnRequestHeaders(append([][2]string(nil), h.reqHeaders...), false)
	if a1 != Continue || h.props["wasm_process_req_body"] != "1" {
		t.Fatalf("headers: %v, props %v", a1, h.props)
	}
	h.reqBody = []byte(`{"model":"x","messages":[{"role":"user","content":"hi"}]}`)
	if a := s.OnRequestBody(len(h.reqBody), true); a != Pause || h.call == nil {
		t.Fatalf("body: %v call %+v", a, h.call)
	}
	c := h.call
	if c.cluster != "api.openai.com:443" || c.timeout != 30000 {
		t.Fatalf("callout %q timeout %d", c.cluster, c.timeout)
	}
	for k, v := range map[string]string{":method": "POST", ":path": "/v1/chat/completions", ":authority": "api.openai.com",
		":scheme": "https", "authorization": "Bearer sk-operator", "x-request-id": "r1"} {
		if got, _ := get(c.headers, k); got != v {
			t.Errorf("callout header %s = %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"x-api-key", "api-key", "content-length"} {
		if _, ok := get(c.headers, k); ok {
			t.Errorf("callout carries client header %s", k)
		}
	}
	if gjson.GetBytes(c.body, "model").Str != "gpt-4o" {
		t.Fatalf("callout body %s", c.body)
	}
	resp := `{"id":"c","object":"chat.completion","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"yo"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`
	s.OnCallResponse([][2]string{{"content-type", "application/json"}, {":status", "200"}}, []byte(resp), true)
	if h.local == nil || h.local.status != 200 || string(h.local.body) != resp {
		t.Fatalf("local reply %+v", h.local)
	}
	for k, v := range map[string]string{"llm_prompt_tokens": "3", "llm_completion_tokens": "2", "llm_total_tokens": "5",
		"llm_model": "gpt-4o", "request_llm_model": "x", "request_type": "ai_chat"} {
		if h.props[k] != v {
			t.Errorf("property %s = %q, want %q", k, h.props[k], v)
		}
	}
}

func TestCalloutFailures(t *testing.T) {
	tests := []struct {
		name    string
		headers [][2]string
		ok      bool
		status  int
		want    string
	}{
		{"transport failure", nil, false, 502, "failed before answering"},
		{"envoy callout timeout", [][2]string{{":status", "504"}, {"content-type", "text/plain"}}, true, 504, "did not answer within 30000 ms"},
		{"envoy connect failure", [][2]string{{":status", "503"}, {"content-type", "text/plain"}}, true, 503, "cannot connect"},
		{"provider error passes through", [][2]string{{":status", "429"}, {"content-type", "application/json"}}, true, 429, "rate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, h := newStream(t, openaiConf, apisixCaps, clientHeaders("/v1/chat/completions"))
			sendRequest(t, s, h, `{"messages":[{"role":"user","content":"hi"}]}`)
			s.OnCallResponse(tc.headers, []byte(`{"error":{"message":"rate limited","type":"rate_limit_error"}}`), tc.ok)
			if h.local == nil || h.local.status != tc.status || !strings.Contains(string(h.local.body), tc.want) {
				t.Fatalf("local %+v", h.local)
			}
		})
	}
}

func TestStreamPassthrough(t *testing.T) {
	s, h := newStream(t, openaiConf, envoyCaps, clientHeaders("/v1/chat/completions"))
	sendRequest(t, s, h, `{"messages":[{"role":"user","content":"hi"}],"stream":true}`)
	h.respHeaders = [][2]string{{":status", "200"}, {"content-type", "text/event-stream"}}
	if s.OnResponseHeaders(append([][2]string(nil), h.respHeaders...), false) != Continue {
		t.Fatal("response headers held")
	}
	events := []string{
		`data: {"id":"1","choices":[{"index":0,"delta":{"role":"assistant","content":""}}],"usage":null}` + "\n\n",
		`data: {"id":"1","choices":[{"index":0,"delta":{"content":"Hel"}}],"usage":null}` + "\n\ndata: {\"id\":\"1\",\"choices\":[{\"index\":0,\"delta\":{\"con",
		`tent":"lo"}}],"usage":null}` + "\n\n" + `data: {"id":"1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}` + "\n\n",
		`data: {"id":"1","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":1}}}` + "\n\n",
		"data: [DONE]\n\n",
	}
	for i, ev := range events {
		h.respBody = []byte(ev)
		if a := s.OnResponseBody(len(ev), i == len(events)-1); a != Continue {
			t.Fatalf("chunk %d held", i)
		}
		if string(h.respBody) != ev {
			t.Fatalf("chunk %d rewritten: %q", i, h.respBody)
		}
	}
	for k, v := range map[string]string{"llm_prompt_tokens": "7", "llm_completion_tokens": "2", "llm_total_tokens": "9",
		"llm_cache_read_input_tokens": "4", "llm_reasoning_tokens": "1", "request_type": "ai_stream"} {
		if h.props[k] != v {
			t.Errorf("property %s = %q, want %q", k, h.props[k], v)
		}
	}
	if h.props["llm_time_to_first_token"] == "" || h.props["llm_time_to_first_token"] == "0" {
		t.Errorf("ttft %q", h.props["llm_time_to_first_token"])
	}
}

func TestStreamSafeguards(t *testing.T) {
	conf := `{"provider":"openai","auth":{"header":{"a":"b"}},"max_response_bytes":100}`
	s, h := newStream(t, conf, envoyCaps, clientHeaders("/v1/chat/completions"))
	sendRequest(t, s, h, `{"messages":[{"role":"user","content":"hi"}],"stream":true}`)
	s.OnResponseHeaders([][2]string{{":status", "200"}, {"content-type", "text/event-stream"}}, false)
	ev := `data: {"id":"1","choices":[{"index":0,"delta":{"content":"Hello there"}}]}` + "\n\n"
	h.respBody = []byte(ev)
	s.OnResponseBody(len(ev), false)
	if string(h.respBody) != ev {
		t.Fatalf("first chunk changed: %q", h.respBody)
	}
	h.respBody = []byte(ev)
	s.OnResponseBody(len(ev), false)
	if !strings.HasPrefix(string(h.respBody), "data: {\"error\"") || !strings.Contains(string(h.respBody), "max_response_bytes") || !strings.HasSuffix(string(h.respBody), "data: [DONE]\n\n") {
		t.Fatalf("over-limit chunk: %q", h.respBody)
	}
	h.respBody = []byte(ev)
	s.OnResponseBody(len(ev), true)
	if len(h.respBody) != 0 {
		t.Fatalf("chunk after abort reached the client: %q", h.respBody)
	}
}

func TestJSONResponseUsage(t *testing.T) {
	s, h := newStream(t, openaiConf, envoyCaps, clientHeaders("/v1/embeddings"))
	sendRequest(t, s, h, `{"input":"hello","model":"text-embedding-3-small"}`)
	h.respHeaders = [][2]string{{":status", "200"}, {"content-type", "application/json"}, {"content-length", "99"}}
	s.OnResponseHeaders(append([][2]string(nil), h.respHeaders...), false)
	body := `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":1,"total_tokens":1}}`
	for i, part := range []string{body[:40], body[40:]} {
		h.respBody = []byte(part)
		if s.OnResponseBody(len(part), i == 1) != Continue {
			t.Fatal("untranslated JSON must not be buffered by the host")
		}
	}
	if h.props["llm_prompt_tokens"] != "1" || h.props["llm_total_tokens"] != "1" {
		t.Fatalf("props %v", h.props)
	}
	if cl, _ := get(h.respHeaders, "content-length"); cl != "99" {
		t.Fatal("content-length touched on an untouched body")
	}
}

// Errors the proxy or a provider answers in text or HTML reach the client as
// an error JSON of its protocol, with the status kept.
func TestNonJSONErrorsBecomeJSON(t *testing.T) {
	s, h := newStream(t, openaiConf, envoyCaps, clientHeaders("/v1/chat/completions"))
	sendRequest(t, s, h, `{"messages":[{"role":"user","content":"hi"}]}`)
	h.respHeaders = [][2]string{{":status", "503"}, {"content-type", "text/plain"}, {"content-length", "91"}}
	s.OnResponseHeaders(append([][2]string(nil), h.respHeaders...), false)
	if ct, _ := get(h.respHeaders, "content-type"); ct != "application/json" {
		t.Fatalf("content-type %q", ct)
	}
	if _, ok := get(h.respHeaders, "content-length"); ok {
		t.Fatal("stale content-length kept")
	}
	msg := "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
	h.respBody = []byte(msg[:20])
	if s.OnResponseBody(20, false) != Consume {
		t.Fatal("the error body must be kept by the filter to be rewritten")
	}
	h.respBody = []byte(msg[20:])
	s.OnResponseBody(len(msg)-20, true)
	e := gjson.ParseBytes(h.respBody)
	if !strings.Contains(e.Get("error.message").Str, "connection failure") || e.Get("error.type").Str != "server_error" {
		t.Fatalf("body %s", h.respBody)
	}
	if h.props["request_type"] != "ai_chat" || h.metrics["llm_requests_total.provider.openai.model.gpt-4o.status.5xx"] != 1 {
		t.Fatalf("props %v metrics %v", h.props, h.metrics)
	}
}

func TestMetricsAreBounded(t *testing.T) {
	cfg, _ := ParseConfig([]byte(`{"provider":"deepseek","auth":{"header":{"a":"b"}}}`), nil)
	p := NewPlugin(cfg, envoyCaps, newFakeRoot())
	h := newFakeHost()
	for i := 0; i < 3*maxModels; i++ {
		h.reqHeaders = clientHeaders("/v1/chat/completions")
		s := p.NewStream(h)
		sendRequest(t, s, h, `{"model":"m.`+strconv.Itoa(i)+`","messages":[{"role":"user","content":"hi"}]}`)
		h.respBody = []byte(`{"usage":{"prompt_tokens":2,"completion_tokens":3,"total_tokens":5}}`)
		s.OnResponseHeaders([][2]string{{":status", "200"}, {"content-type", "application/json"}}, false)
		s.OnResponseBody(len(h.respBody), true)
		h.frozen = false
	}
	series := map[string]bool{}
	for name := range h.metrics {
		if strings.HasPrefix(name, "llm_requests_total.") {
			series[name] = true
		}
	}
	if len(series) != maxModels+1 {
		t.Fatalf("%d request series for %d models, want %d", len(series), 3*maxModels, maxModels+1)
	}
	if h.metrics["llm_requests_total.provider.deepseek.model.m_0.status.2xx"] != 1 ||
		h.metrics["llm_requests_total.provider.deepseek.model.other.status.2xx"] != 2*maxModels ||
		h.metrics["llm_tokens_total.provider.deepseek.model.m_0.kind.completion"] != 3 {
		t.Fatalf("metrics %v", h.metrics)
	}
}

func TestBodilessRequests(t *testing.T) {
	s, h := newStream(t, openaiConf, envoyCaps, clientHeaders("/v1/models"))
	for i := range h.reqHeaders {
		if h.reqHeaders[i][0] == ":method" {
			h.reqHeaders[i][1] = "GET"
		}
	}
	if s.OnRequestHeaders(append([][2]string(nil), h.reqHeaders...), true) != Continue || h.local != nil {
		t.Fatal("GET must pass")
	}
	for k, v := range map[string]string{":authority": "api.openai.com", ":path": "/v1/models", "authorization": "Bearer sk-operator"} {
		if got, _ := get(h.reqHeaders, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if s.Observing() {
		t.Fatal("a non-AI response needs no observing")
	}
	s.OnDone()
	if h.props["request_type"] != "traditional_http" || len(h.props) != 1 {
		t.Fatalf("props %v", h.props)
	}

	s, h = newStream(t, openaiConf, envoyCaps, clientHeaders("/v1/chat/completions"))
	s.OnRequestHeaders(append([][2]string(nil), h.reqHeaders...), true)
	if h.local == nil || h.local.status != 400 || !strings.Contains(string(h.local.body), "empty") {
		t.Fatalf("POST without body: %+v", h.local)
	}
}

// Held headers (Bedrock with allow_on_headers_stop_iteration) are written
// once the body is known: signed, with the exact content-length, and
// without any client credential.
func TestHoldModeSignsAndStripsClientCredentials(t *testing.T) {
	conf := `{"provider":"bedrock","provider_conf":{"region":"us-east-1"},"allow_on_headers_stop_iteration":true,
		"auth":{"aws":{"access_key_id":"AKIDEXAMPLE","secret_access_key":"secret"}},"options":{"model":"anthropic.claude-3-haiku-20240307-v1:0"}}`
	s, h := newStream(t, conf, envoyCaps, clientHeaders("/v1/converse"))
	if s.OnRequestHeaders(append([][2]string(nil), h.reqHeaders...), false) != Pause {
		t.Fatal("bedrock headers must be held for the body")
	}
	if h.headerWrites != 0 {
		t.Fatal("headers written before the body was known")
	}
	h.reqBody = []byte(`{"messages":[{"role":"user","content":[{"text":"hi"}]}],"stream":false}`)
	if a := s.OnRequestBody(len(h.reqBody), true); a != Continue || h.local != nil {
		t.Fatalf("%v %+v", a, h.local)
	}
	for k, v := range map[string]string{":authority": "bedrock-runtime.us-east-1.amazonaws.com",
		":path": "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", "content-length": strconv.Itoa(len(h.reqBody))} {
		if got, _ := get(h.reqHeaders, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if a, _ := get(h.reqHeaders, "authorization"); !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") {
		t.Errorf("authorization %q", a)
	}
	if _, ok := get(h.reqHeaders, "x-amz-date"); !ok {
		t.Error("no x-amz-date")
	}
	for _, k := range []string{"x-api-key", "api-key", "accept-encoding"} {
		if _, ok := get(h.reqHeaders, k); ok {
			t.Errorf("client header %s reached the provider", k)
		}
	}
	if gjson.GetBytes(h.reqBody, "stream").Exists() {
		t.Errorf("stream left in a Converse body: %s", h.reqBody)
	}
}

// In callout mode on Envoy (Bedrock without allow_on_headers_stop_iteration)
// the request headers go on to the router while the filter reads the body,
// and the router may open an upstream request with them: they leave the
// headers callback without any client credential or hop-by-hop header,
// pointed at the provider rather than the host the client named. The
// callout still carries what the provider needs.
func TestCalloutModeOnEnvoyDisarmsHeaders(t *testing.T) {
	conf := `{"provider":"bedrock","provider_conf":{"region":"us-east-1"},
		"auth":{"aws":{"access_key_id":"AKIDEXAMPLE","secret_access_key":"secret"}},"options":{"model":"anthropic.claude-3-haiku-20240307-v1:0"}}`
	s, h := newStream(t, conf, envoyCaps, clientHeaders("/v1/chat/completions",
		[2]string{"proxy-authorization", "Basic client"}, [2]string{"x-goog-api-key", "client-secret"}, [2]string{"x-custom", "kept"}))
	if a := s.OnRequestHeaders(append([][2]string(nil), h.reqHeaders...), false); a != Continue {
		t.Fatalf("headers: %v", a)
	}
	for _, kv := range h.reqHeaders {
		if dropRequestHeader(kv[0]) || strings.Contains(kv[1], "client") {
			t.Errorf("the router gets the client's %s: %q", kv[0], kv[1])
		}
	}
	for k, v := range map[string]string{":authority": "bedrock-runtime.us-east-1.amazonaws.com", ":scheme": "https",
		":path": "/v1/chat/completions", "x-custom": "kept"} {
		if got, _ := get(h.reqHeaders, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	h.reqBody = []byte(`{"messages":[{"role":"user","content":"hi"}]}`)
	if a := s.OnRequestBody(len(h.reqBody), true); a != Pause || h.call == nil {
		t.Fatalf("body: %v, call %+v", a, h.call)
	}
	if a, _ := get(h.call.headers, "authorization"); !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") {
		t.Errorf("callout authorization %q", a)
	}
	if v, _ := get(h.call.headers, "x-custom"); v != "kept" {
		t.Errorf("callout lost x-custom: %q", v)
	}
}

// A recycled stream (Reuse) starts clean: nothing of the previous request,
// an unfinished SSE event included, leaks into the next one, and the
// pass-through translator is reused rather than reallocated.
func TestReusedStreamStartsClean(t *testing.T) {
	s, h := newStream(t, openaiConf, envoyCaps, clientHeaders("/v1/chat/completions"))
	sendRequest(t, s, h, `{"model":"a","messages":[{"role":"user","content":"hi"}],"stream":true}`)
	s.OnResponseHeaders([][2]string{{":status", "200"}, {"content-type", "text/event-stream"}}, false)
	for _, ev := range []string{
		`data: {"id":"1","choices":[{"index":0,"delta":{"content":"x"}}],"usage":null}` + "\n\n",
		`data: {"id":"1","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":60,"total_tokens":110}}` + "\n\ndata: {\"usage\":{\"prompt_to",
	} {
		h.respBody = []byte(ev)
		s.OnResponseBody(len(ev), false)
	}
	s.OnDone()
	first := s.tr

	h2 := newFakeHost(clientHeaders("/v1/chat/completions")...)
	s.Reuse(s.p, h2)
	if s.tr != nil || s.stream || s.reqModel != "" || s.finished {
		t.Fatalf("state survived Reuse: tr %v stream %v model %q finished %v", s.tr, s.stream, s.reqModel, s.finished)
	}
	sendRequest(t, s, h2, `{"model":"b","messages":[{"role":"user","content":"hi"}],"stream":true}`)
	if s.tr != first {
		t.Error("the pass-through translator was not recycled")
	}
	s.OnResponseHeaders([][2]string{{":status", "200"}, {"content-type", "text/event-stream"}}, false)
	// Were the old partial line kept, this event would continue it.
	body := `data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}` + "\n\ndata: [DONE]\n\n"
	h2.respBody = []byte(body)
	s.OnResponseBody(len(body), true)
	for k, v := range map[string]string{"request_type": "ai_stream", "request_llm_model": "b", "llm_prompt_tokens": "3",
		"llm_completion_tokens": "4", "llm_total_tokens": "7"} {
		if h2.props[k] != v {
			t.Errorf("property %s = %q, want %q", k, h2.props[k], v)
		}
	}
}

// A converted, non-streaming answer is kept by the filter chunk by chunk
// (Consume: the host's buffer limit does not apply) and sent at its end.
// With allow_on_headers_stop_iteration its headers wait for it, so a
// broken answer becomes a 502 with the client's error object; without
// it the headers are gone and the local reply makes Envoy reset the
// stream. An answer that ends with its headers is answered at once.
func TestConvertedAnswerWaitsForItsBody(t *testing.T) {
	const conf = `{"provider":"openai","auth":{"header":{"Authorization":"Bearer k"}}%s}`
	good := `{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`
	tests := []struct {
		name     string
		extra    string // configuration fields
		chunks   []string
		noBody   bool // the headers carry end of stream
		wantHold bool
		status   int // 0: the converted body passes on
		want     string
	}{
		{"held, converted", `,"allow_on_headers_stop_iteration":true`, []string{good[:50], good[50:]}, false, true, 0, `"text":"Hello"`},
		{"held, truncated", `,"allow_on_headers_stop_iteration":true`, []string{good[:50], good[50:90]}, false, true, 502, "could not be read"},
		{"held, not JSON", `,"allow_on_headers_stop_iteration":true`, []string{"<html>maintenance</html>"}, false, true, 502, "could not be read"},
		{"held, too large", `,"allow_on_headers_stop_iteration":true,"max_response_bytes":100`, []string{good[:60], good[60:]}, false, true, 502, "more than 100 bytes"},
		{"not held, converted", "", []string{good[:50], good[50:]}, false, false, 0, `"text":"Hello"`},
		{"not held, truncated", "", []string{good[:50], good[50:90]}, false, false, 502, "could not be read"},
		{"empty", "", nil, true, false, 502, "could not be read"},
		{"held, empty", `,"allow_on_headers_stop_iteration":true`, nil, true, false, 502, "could not be read"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, h := newStream(t, fmt.Sprintf(conf, tc.extra), envoyCaps, clientHeaders("/v1/messages"))
			sendRequest(t, s, h, `{"model":"claude","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`)
			h.respHeaders = [][2]string{{":status", "200"}, {"content-type", "application/json"}, {"content-length", "999"}}
			a := s.OnResponseHeaders(append([][2]string(nil), h.respHeaders...), tc.noBody)
			if held := a == Pause && h.local == nil; held != tc.wantHold {
				t.Fatalf("headers held: %v, want %v", held, tc.wantHold)
			}
			for i, c := range tc.chunks {
				h.respBody = []byte(c)
				last := i == len(tc.chunks)-1
				a := s.OnResponseBody(len(c), last)
				if h.local != nil {
					break
				}
				if !last && a != Consume {
					t.Fatalf("chunk %d: %v, want Consume", i, a)
				}
				if last && a != Continue {
					t.Fatalf("last chunk: %v, want Continue", a)
				}
			}
			if tc.status == 0 {
				if h.local != nil {
					t.Fatalf("local reply %d %s", h.local.status, h.local.body)
				}
				if !strings.Contains(string(h.respBody), tc.want) || gjson.GetBytes(h.respBody, "type").Str != "message" {
					t.Fatalf("body %s", h.respBody)
				}
				cl, ok := get(h.respHeaders, "content-length")
				if tc.wantHold && cl != strconv.Itoa(len(h.respBody)) || !tc.wantHold && ok {
					t.Fatalf("content-length %q with %d body bytes", cl, len(h.respBody))
				}
				return
			}
			if h.local == nil || h.local.status != tc.status || !strings.Contains(string(h.local.body), tc.want) ||
				gjson.GetBytes(h.local.body, "type").Str != "error" {
				t.Fatalf("local reply %+v", h.local)
			}
			if ct, _ := get(h.local.headers, "content-type"); ct != "application/json" {
				t.Fatalf("content-type %q", ct)
			}
		})
	}
}

// A converted answer larger than the host's 1 MiB buffer still converts:
// the host is never asked to buffer it.
func TestConvertedAnswerBeyondHostBuffer(t *testing.T) {
	s, h := newStream(t, `{"provider":"openai","auth":{"header":{"a":"b"}}}`, envoyCaps, clientHeaders("/v1/messages"))
	sendRequest(t, s, h, `{"model":"claude","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`)
	s.OnResponseHeaders([][2]string{{":status", "200"}, {"content-type", "application/json"}}, false)
	text := strings.Repeat("a", 3<<20)
	body := `{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"` + text + `"},"finish_reason":"stop"}]}`
	for off := 0; off < len(body); off += 64 << 10 {
		c := body[off:min(off+64<<10, len(body))]
		h.respBody = []byte(c)
		eos := off+len(c) == len(body)
		if a := s.OnResponseBody(len(c), eos); eos && a != Continue || !eos && a != Consume {
			t.Fatalf("chunk at %d: %v", off, a)
		}
	}
	if h.local != nil || gjson.GetBytes(h.respBody, "content.0.text").Str != text {
		t.Fatalf("local %+v, body %.200s", h.local, h.respBody)
	}
}

// The token exchange of a service account dials the cluster of its
// token_uri, like any callout; an IPv6 literal keeps its brackets.
func TestTokenCalloutCluster(t *testing.T) {
	sa, err := os.ReadFile("testdata/service-account.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ tokenURI, cluster, authority string }{
		{"https://oauth2.googleapis.com/token", "oauth2.googleapis.com:443", "oauth2.googleapis.com"},
		{"http://127.0.0.1:8080/token", "127.0.0.1:8080", "127.0.0.1:8080"},
		{"http://[::1]:8080/token", "[::1]:8080", "[::1]:8080"},
		{"https://[2001:db8::1]/token", "[2001:db8::1]:443", "[2001:db8::1]"},
		{"http://[2001:db8::1]/token", "[2001:db8::1]:80", "[2001:db8::1]"},
	}
	for _, tc := range tests {
		acct, _ := sjson.SetBytes(sa, "token_uri", tc.tokenURI)
		conf, _ := sjson.Set(`{"provider":"vertex-ai","provider_conf":{"project_id":"p","region":"us-central1"}}`, "auth.gcp.service_account_json", string(acct))
		s, h := newStream(t, conf, envoyCaps, clientHeaders("/v1/chat/completions"))
		if a := s.OnRequestHeaders(append([][2]string(nil), h.reqHeaders...), false); a != Pause || h.call == nil {
			t.Fatalf("%s: headers %v, call %+v", tc.tokenURI, a, h.call)
		}
		authority, _ := get(h.call.headers, ":authority")
		if h.call.cluster != tc.cluster || authority != tc.authority {
			t.Errorf("%s: token callout to cluster %q authority %q, want %q %q", tc.tokenURI, h.call.cluster, authority, tc.cluster, tc.authority)
		}
	}
}

// A request that ends before its response did, the way a client that
// disconnects ends it, is logged as operators know it: 499 (nginx's
// "client closed request") when no response status was seen, else the
// status seen; client_closed in the summary; the tokens seen so far.
func TestClientClosed(t *testing.T) {
	const summaryConf = `{"provider":"openai","auth":{"header":{"Authorization":"Bearer k"}},"options":{"model":"gpt-4o"},"logging":{"summaries":true}}`
	sse := func(s *Stream, h *fakeHost, events []string, eos bool) {
		s.OnResponseHeaders([][2]string{{":status", "200"}, {"content-type", "text/event-stream"}}, false)
		for i, ev := range events {
			h.respBody = []byte(ev)
			s.OnResponseBody(len(ev), eos && i == len(events)-1)
		}
	}
	hello := `data: {"id":"1","choices":[{"index":0,"delta":{"content":"Hello"}}],"usage":null}` + "\n\n"
	usage := `data: {"id":"1","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}` + "\n\n"
	tests := []struct {
		name    string
		caps    Caps
		respond func(*Stream, *fakeHost) // after the request; OnDone follows
		status  int64
		closed  bool
		prompt  int64
		class   string // metric status class
	}{
		{"waiting for the upstream", envoyCaps, func(*Stream, *fakeHost) {}, 499, true, 0, "4xx"},
		{"waiting for a callout", apisixCaps, func(*Stream, *fakeHost) {}, 499, true, 0, "4xx"},
		{"after the response headers of a stream", envoyCaps, func(s *Stream, h *fakeHost) { sse(s, h, nil, false) }, 200, true, 0, "2xx"},
		{"mid-stream", envoyCaps, func(s *Stream, h *fakeHost) { sse(s, h, []string{hello}, false) }, 200, true, 0, "2xx"},
		{"after the usage, before [DONE]", envoyCaps, func(s *Stream, h *fakeHost) { sse(s, h, []string{hello, usage}, false) }, 200, true, 7, "2xx"},
		{"after the last byte", envoyCaps, func(s *Stream, h *fakeHost) { sse(s, h, []string{hello, usage, "data: [DONE]\n\n"}, true) }, 200, false, 7, "2xx"},
		{"response without a body", envoyCaps, func(s *Stream, h *fakeHost) {
			s.OnResponseHeaders([][2]string{{":status", "204"}}, true)
		}, 204, false, 0, "2xx"},
		{"after a callout answered", apisixCaps, func(s *Stream, h *fakeHost) {
			s.OnCallResponse([][2]string{{":status", "200"}, {"content-type", "text/event-stream"}}, []byte(hello+usage+"data: [DONE]\n\n"), true)
		}, 200, false, 7, "2xx"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, h := newStream(t, summaryConf, tc.caps, clientHeaders("/v1/chat/completions"))
			body := `{"messages":[{"role":"user","content":"hi"}],"stream":true}`
			if tc.caps.ExplicitBody {
				s.OnRequestHeaders(append([][2]string(nil), h.reqHeaders...), false)
				h.reqBody = []byte(body)
				if s.OnRequestBody(len(body), true) != Pause || h.call == nil {
					t.Fatal("no callout")
				}
			} else {
				sendRequest(t, s, h, body)
			}
			tc.respond(s, h)
			s.OnDone()
			s.OnDone() // Envoy calls proxy_on_log, then proxy_on_done
			var summary string
			for _, l := range h.logs {
				if m, ok := strings.CutPrefix(l, "ai-proxy summary: "); ok {
					if summary != "" {
						t.Fatal("two summaries")
					}
					summary = m
				}
			}
			g := gjson.Parse(summary)
			if g.Get("status").Int() != tc.status || g.Get("client_closed").Type != gjson.True && tc.closed ||
				g.Get("client_closed").Type != gjson.False && !tc.closed || g.Get("prompt_tokens").Int() != tc.prompt {
				t.Fatalf("summary %s, want status %d client_closed %v prompt_tokens %d", summary, tc.status, tc.closed, tc.prompt)
			}
			if h.props["llm_prompt_tokens"] != strconv.FormatInt(tc.prompt, 10) {
				t.Errorf("llm_prompt_tokens = %q", h.props["llm_prompt_tokens"])
			}
			if name := "llm_requests_total.provider.openai.model.gpt-4o.status." + tc.class; h.metrics[name] != 1 {
				t.Errorf("metric %s not counted: %v", name, h.metrics)
			}
		})
	}
}

// withMethod returns client headers for path with method instead of POST.
func withMethod(method, path string) [][2]string {
	h := clientHeaders(path)
	for i := range h {
		if h[i][0] == ":method" {
			h[i][1] = method
		}
	}
	return h
}

// One method policy on every host: AI requests are POSTs, model listings
// GETs, and anything else is a 405 naming the allowed method, in the
// client's error format, with nothing sent upstream.
func TestMethodPolicy(t *testing.T) {
	tests := []struct {
		method, path string
		allow        string // "" when the request goes to the provider
		anthropic    bool   // the error is Anthropic's
	}{
		{"GET", "/v1/chat/completions", "POST", false},
		{"DELETE", "/v1/chat/completions", "POST", false},
		{"PUT", "/v1/chat/completions", "POST", false},
		{"PATCH", "/v1/embeddings", "POST", false},
		{"GET", "/v1/responses", "POST", false},
		{"GET", "/v1/messages", "POST", true},
		{"DELETE", "/v1/messages?beta=true", "POST", true},
		{"PUT", "/v1/messages", "POST", true},
		{"GET", "/model/m/converse", "POST", false},
		{"OPTIONS", "/v1/chat/completions", "POST", false},
		{"HEAD", "/v1/chat/completions", "POST", false},
		{"GET", "/anything", "POST", false},
		{"POST", "/v1/models", "GET", false},
		{"HEAD", "/v1/models", "GET", false},
		{"DELETE", "/v1/models/ft:gpt-4o:org::x", "GET", false},
		{"GET", "/v1/models", "", false},
		{"GET", "/v1/models/", "", false},
		{"GET", "/v1/models/gpt-4o?limit=2", "", false},
		{"POST", "/v1/chat/completions", "", false},
	}
	for _, caps := range []struct {
		name string
		caps Caps
	}{{"envoy", envoyCaps}, {"apisix", apisixCaps}} {
		for _, tc := range tests {
			t.Run(caps.name+"/"+tc.method+" "+tc.path, func(t *testing.T) {
				s, h := newStream(t, openaiConf, caps.caps, withMethod(tc.method, tc.path))
				// Envoy: a body follows unless it is a bare GET, HEAD,
				// DELETE or OPTIONS; APISIX always says end of stream.
				eos := caps.caps.ExplicitBody || tc.method != "POST" && tc.method != "PUT" && tc.method != "PATCH"
				a := s.OnRequestHeaders(append([][2]string(nil), h.reqHeaders...), eos)
				if tc.allow == "" {
					if h.local != nil {
						t.Fatalf("refused: %d %s", h.local.status, h.local.body)
					}
					if tc.method != "GET" {
						return
					}
					up := h.reqHeaders // Envoy: the request itself goes on
					if caps.caps.ExplicitBody {
						if a != Pause || h.call == nil {
							t.Fatalf("APISIX: no callout for the read (action %v)", a)
						}
						up = h.call.headers
						if h.call.body != nil {
							t.Fatalf("a read callout carries a body: %q", h.call.body)
						}
					} else if a != Continue {
						t.Fatalf("action %v", a)
					}
					for k, v := range map[string]string{":method": "GET", ":authority": "api.openai.com", ":path": tc.path, "authorization": "Bearer sk-operator"} {
						if got, _ := get(up, k); got != v {
							t.Errorf("upstream %s = %q, want %q", k, got, v)
						}
					}
					if s.OnRequestBody(0, true) != Continue || h.local != nil {
						t.Fatal("a body after a read is not an AI request")
					}
					return
				}
				if h.local == nil || h.local.status != 405 {
					t.Fatalf("want 405, got %+v", h.local)
				}
				if got, _ := get(h.local.headers, "allow"); got != tc.allow {
					t.Errorf("Allow = %q, want %q", got, tc.allow)
				}
				e := gjson.ParseBytes(h.local.body)
				if tc.anthropic {
					if e.Get("type").Str != "error" || e.Get("error.type").Str != "invalid_request_error" {
						t.Errorf("not an Anthropic error: %s", h.local.body)
					}
				} else if e.Get("error.type").Str != "invalid_request_error" || !strings.Contains(e.Get("error.message").Str, tc.method) {
					t.Errorf("not an OpenAI error naming the method: %s", h.local.body)
				}
				if a != Pause || h.call != nil || h.props["wasm_process_req_body"] != "" {
					t.Errorf("action %v, callout %+v, props %v: something may go upstream", a, h.call, h.props)
				}
				if got, _ := get(h.reqHeaders, ":authority"); got != "gateway.local" {
					t.Errorf("the request was rewritten for the provider: authority %q", got)
				}
			})
		}
	}
}

// On APISIX a read goes as a callout and its answer reaches the client
// as the provider gave it.
func TestReadCalloutAnswerPassesUntouched(t *testing.T) {
	s, h := newStream(t, openaiConf, apisixCaps, withMethod("GET", "/v1/models"))
	if s.OnRequestHeaders(append([][2]string(nil), h.reqHeaders...), true) != Pause || h.call == nil {
		t.Fatal("no callout for the read")
	}
	list := `{"object":"list","data":[{"id":"gpt-4o","object":"model"}]}`
	s.OnCallResponse([][2]string{{":status", "200"}, {"content-type", "application/json"}, {"x-request-id", "up"}}, []byte(list), true)
	if h.local == nil || h.local.status != 200 || string(h.local.body) != list {
		t.Fatalf("local %+v", h.local)
	}
	s.OnDone()
	if h.props["request_type"] != "traditional_http" {
		t.Fatalf("props %v", h.props)
	}

	s, h = newStream(t, openaiConf, apisixCaps, withMethod("GET", "/v1/models"))
	s.OnRequestHeaders(append([][2]string(nil), h.reqHeaders...), true)
	s.OnCallResponse(nil, nil, false)
	if h.local == nil || h.local.status != 502 {
		t.Fatalf("transport failure: %+v", h.local)
	}
}

// The members each client protocol requires are checked before anything
// is sent, as the provider's API would.
func TestRequiredFields(t *testing.T) {
	const anthropicConf = `{"provider":"openai","auth":{"header":{"Authorization":"Bearer k"}}}`
	tests := []struct {
		name, path, body string
		conf             string
		want             string // "" when the request goes on
	}{
		{"anthropic empty messages", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[]}`, anthropicConf, `"messages" must not be empty`},
		{"anthropic empty messages, spaces", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[ ]}`, anthropicConf, `"messages" must not be empty`},
		{"anthropic messages object", "/v1/messages", `{"model":"m","max_tokens":5,"messages":{}}`, anthropicConf, `"messages" must be an array of messages, got an object`},
		{"anthropic messages string", "/v1/messages", `{"model":"m","max_tokens":5,"messages":"hi"}`, anthropicConf, `got a string`},
		{"anthropic no max_tokens", "/v1/messages", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, anthropicConf, `"max_tokens" is required`},
		{"anthropic max_tokens string", "/v1/messages", `{"model":"m","max_tokens":"5","messages":[{"role":"user","content":"hi"}]}`, anthropicConf, `"max_tokens" must be a positive integer, got a string`},
		{"anthropic max_tokens zero", "/v1/messages", `{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"hi"}]}`, anthropicConf, `positive integer`},
		{"anthropic max_tokens fraction", "/v1/messages", `{"model":"m","max_tokens":1.5,"messages":[{"role":"user","content":"hi"}]}`, anthropicConf, `positive integer`},
		{"anthropic max_tokens from the operator", "/v1/messages", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
			`{"provider":"openai","auth":{"header":{"Authorization":"Bearer k"}},"override":{"llm_options":{"max_tokens":64}}}`, ""},
		{"anthropic valid", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, anthropicConf, ""},
		{"anthropic native empty messages", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[]}`,
			`{"provider":"anthropic","auth":{"header":{"x-api-key":"k"}}}`, `"messages" must not be empty`},
		{"chat empty messages", "/v1/chat/completions", `{"model":"m","messages":[]}`, openaiConf, `"messages" must not be empty`},
		{"chat messages string", "/v1/chat/completions", `{"model":"m","messages":"hi"}`, openaiConf, `"messages" must be an array of messages, got a string`},
		{"chat messages null", "/v1/chat/completions", `{"model":"m","messages":null}`, openaiConf, `got null`},
		{"chat without max_tokens", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`, openaiConf, ""},
		{"detected chat, empty messages", "/anything", `{"messages":[]}`, openaiConf, `"messages" must not be empty`},
		{"embeddings empty string", "/v1/embeddings", `{"model":"m","input":""}`, openaiConf, `"input" must not be empty`},
		{"embeddings empty array", "/v1/embeddings", `{"model":"m","input":[]}`, openaiConf, `"input" must not be empty`},
		{"embeddings number", "/v1/embeddings", `{"model":"m","input":5}`, openaiConf, `"input" must be a string or an array, got a number`},
		{"embeddings object", "/v1/embeddings", `{"model":"m","input":{"text":"x"}}`, openaiConf, `got an object`},
		{"embeddings null", "/v1/embeddings", `{"model":"m","input":null}`, openaiConf, `got null`},
		{"embeddings tokens", "/v1/embeddings", `{"model":"m","input":[1,2,3]}`, openaiConf, ""},
		{"responses number", "/v1/responses", `{"model":"m","input":5}`, openaiConf, `"input" must be a string or an array, got a number`},
		{"responses empty array", "/v1/responses", `{"model":"m","input":[]}`, openaiConf, ""},
		{"converse messages object", "/model/m/converse", `{"messages":{}}`,
			`{"provider":"bedrock","provider_conf":{"region":"us-east-1"},"auth":{"aws":{"access_key_id":"AKID","secret_access_key":"s"}}}`, `"messages" must be an array`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, h := newStream(t, tc.conf, envoyCaps, clientHeaders(tc.path))
			sendRequest(t, s, h, tc.body)
			if tc.want == "" {
				if h.local != nil {
					t.Fatalf("refused: %d %s", h.local.status, h.local.body)
				}
				return
			}
			if h.local == nil {
				t.Fatalf("not refused; sent upstream: %s", h.reqBody)
			}
			msg := gjson.GetBytes(h.local.body, "error.message").Str
			if h.local.status != 400 || !strings.Contains(msg, tc.want) {
				t.Fatalf("got %d %s, want 400 containing %q", h.local.status, h.local.body, tc.want)
			}
			if strings.HasSuffix(tc.path, "/messages") && gjson.GetBytes(h.local.body, "error.type").Str != "invalid_request_error" {
				t.Fatalf("not Anthropic's invalid_request_error: %s", h.local.body)
			}
		})
	}
}
