package core

import (
	"strconv"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

func TestMatchModel(t *testing.T) {
	tests := []struct {
		pattern, model string
		want           bool
	}{
		{"gpt-4o", "gpt-4o", true},
		{"gpt-4o", "gpt-4o-mini", false},
		{"gpt-4o", "gpt-4", false},
		{"gpt-4o*", "gpt-4o", true},
		{"gpt-4o*", "gpt-4o-mini", true},
		{"gpt-4o*", "gpt-4", false},
		{"claude-*", "claude-sonnet-4-5", true},
		{"claude-*", "claude", false},
		{"*", "anything", true},
		{"*", "", true},
		{"*-mini", "gpt-4o-mini", true},
		{"*-mini", "gpt-4o-mini-2024", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "abcbc", true},
		{"a*b*c", "acb", false},
		{"a*c", "abc", true},
		{"*b", "ab", true},
		{"a**", "a", true},
		{"*a*a*a", "aaaaaaaaaaaaaaaaaaaab", false},
		{"", "", true},
		{"", "x", false},
	}
	for _, tt := range tests {
		if got := matchModel(tt.pattern, tt.model); got != tt.want {
			t.Errorf("matchModel(%q, %q) = %v, want %v", tt.pattern, tt.model, got, tt.want)
		}
	}
}

func TestInstanceModelsConfig(t *testing.T) {
	conf := func(models string) string {
		return `{"instances":[{"name":"a","provider":"openai","weight":1,"auth":{"header":{"a":"b"}},"models":` + models + `}]}`
	}
	tests := []struct{ models, err string }{
		{`["gpt-4o","gpt-4o-*","*"]`, ""},
		{`"gpt-4o"`, "instances[0].models must be a list of model names"},
		{`[1]`, "instances[0].models must be a list of model names or patterns with * (\"gpt-4o\", \"claude-*\"), got 1"},
		{`[""]`, "instances[0].models must be a list"},
		{`["a","b","a"]`, `instances[0].models lists "a" twice`},
		{`[]`, "instances[0].models must list at least one model"},
	}
	for _, tt := range tests {
		mc, err := ParsePluginConfig([]byte(conf(tt.models)), nil)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.models, err)
		case tt.err == "" && strings.Join(mc.Instances[0].Models, ",") != "gpt-4o,gpt-4o-*,*":
			t.Errorf("%s: models %q", tt.models, mc.Instances[0].Models)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: error %v, want %q", tt.models, err, tt.err)
		}
	}
}

// byModel routes gpt-4o models to OpenAI and Claude models to Anthropic;
// "rest", lower in priority and without models, serves everything else.
const byModel = `{"instances":[
 {"name":"gpt","provider":"openai","weight":1,"auth":{"header":{"Authorization":"Bearer sk-gpt"}},"models":["gpt-4o","gpt-4o-mini"]},
 {"name":"claude","provider":"anthropic","weight":1,"auth":{"header":{"x-api-key":"sk-claude"}},"models":["claude-*"]},
 {"name":"rest","provider":"deepseek","weight":1,"priority":-1,"auth":{"header":{"Authorization":"Bearer sk-rest"}}}]`

// sent returns where a request went, whichever way the host sent it: the
// callout's headers and body, or the request the host forwards.
func sent(h *fakeHost) (headers [][2]string, body []byte) {
	if h.call != nil {
		return h.call.headers, h.call.body
	}
	return h.reqHeaders, h.reqBody
}

// With models declared, the instance is picked by the body's model, on
// every host: held headers on Envoy with allow_on_headers_stop_iteration,
// a callout on Envoy without it and on APISIX. A model no instance lists
// falls through to the instance without models; nothing serves an
// unknown model when every instance lists its models (404,
// model_not_found, in the client's protocol).
func TestMultiRoutesByModel(t *testing.T) {
	hosts := []struct {
		name string
		hold string
		caps Caps
		mode mode
	}{
		{"envoy, held", `,"allow_on_headers_stop_iteration":true`, envoyCaps, modeHold},
		{"envoy, callout", "", envoyCaps, modeCallout},
		{"apisix", "", apisixCaps, modeCallout},
	}
	tests := []struct {
		conf, path, model string
		status            int    // 0: sent upstream
		instance          string // or the error's message
		authority         string
	}{
		{byModel, "/v1/chat/completions", "gpt-4o", 0, "gpt", "api.openai.com"},
		{byModel, "/v1/chat/completions", "gpt-4o-mini", 0, "gpt", "api.openai.com"},
		{byModel, "/v1/chat/completions", "claude-sonnet-4-5", 0, "claude", "api.anthropic.com"},
		{byModel, "/v1/messages", "claude-haiku-4-5", 0, "claude", "api.anthropic.com"},
		{byModel, "/v1/chat/completions", "llama-3", 0, "rest", "api.deepseek.com"},
		{byModel, "/v1/chat/completions", "gpt-4o-2024-08-06", 0, "rest", "api.deepseek.com"},
		{byModel, "/v1/chat/completions", "", 0, "rest", "api.deepseek.com"},
		{strings.Replace(byModel, `,"priority":-1`, `,"models":["deepseek-*"]`, 1), "/v1/chat/completions", "llama-3",
			404, `"error":{"message":"no instance of ai-proxy-multi serves model \"llama-3\"","type":"invalid_request_error","param":null,"code":"model_not_found"}`, ""},
		{strings.Replace(byModel, `,"priority":-1`, `,"models":["deepseek-*"]`, 1), "/v1/messages", "llama-3",
			404, `{"type":"error","error":{"type":"not_found_error","message":"no instance of ai-proxy-multi serves model \"llama-3\""}}`, ""},
		{strings.Replace(byModel, `,"priority":-1`, `,"models":["deepseek-*"]`, 1), "/v1/chat/completions", "",
			400, `request names no \"model\"`, ""},
	}
	for _, host := range hosts {
		for _, tt := range tests {
			mc, err := ParsePluginConfig([]byte(tt.conf+host.hold+`}`), nil)
			if err != nil {
				t.Fatal(err)
			}
			p := NewMultiPlugin(mc, host.caps, newFakeRoot())
			h := newFakeHost(clientHeaders(tt.path)...)
			h.noRewrite = !host.caps.BodyRewrite
			s := p.NewStream(h)
			body := `{"messages":[{"role":"user","content":"hi"}],"max_tokens":5}`
			if tt.model != "" {
				body = `{"model":"` + tt.model + `",` + body[1:]
			}
			sendRequest(t, s, h, body)
			name := host.name + " " + tt.path + " " + tt.model
			if tt.status != 0 {
				if h.local == nil || h.local.status != tt.status || !strings.Contains(string(h.local.body), tt.instance) {
					t.Errorf("%s: local reply %s, want %d with %s", name, localString(h.local), tt.status, tt.instance)
				}
				if h.call != nil || h.headerWrites > 0 && host.mode == modeHold {
					t.Errorf("%s: sent upstream although refused", name)
				}
				continue
			}
			if host.mode == modeCallout && host.caps.BodyRewrite {
				// The headers went on to Envoy's router before the body
				// named the instance: disarmed, as in any callout mode.
				for _, kv := range h.reqHeaders {
					if strings.Contains(kv[1], "client-secret") || kv[0] == ":authority" && kv[1] == "gateway.local" {
						t.Errorf("%s: the router got the client's %s: %s", name, kv[0], kv[1])
					}
				}
			}
			headers, out := sent(h)
			authority, _ := get(headers, ":authority")
			if h.local != nil || s.mode != host.mode || h.props["llm_instance"] != tt.instance || authority != tt.authority {
				t.Errorf("%s: mode %d, instance %q, authority %q, local %+v; want mode %d, %s at %s",
					name, s.mode, h.props["llm_instance"], authority, h.local, host.mode, tt.instance, tt.authority)
			}
			if tt.model != "" && gjson.GetBytes(out, "model").String() != tt.model {
				t.Errorf("%s: upstream body %s", name, out)
			}
			// The instance is the metric label, as when picked with the
			// headers.
			resp := []byte(`{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
			if h.call != nil {
				s.OnCallResponse([][2]string{{":status", "200"}, {"content-type", "application/json"}}, resp, true)
			} else {
				s.OnResponseHeaders([][2]string{{":status", "200"}, {"content-type", "application/json"}}, false)
				h.respBody = resp
				s.OnResponseBody(len(resp), true)
			}
			s.OnDone()
			labelled := false
			for k := range h.metrics {
				labelled = labelled || strings.HasPrefix(k, "llm_requests_total.instance."+tt.instance+".")
			}
			if !labelled {
				t.Errorf("%s: no request metric labelled with instance %s: %v", name, tt.instance, h.metrics)
			}
		}
	}
}

// Among several instances serving a model, the balancer still decides:
// weights hold among those that serve it, and the others are never asked.
func TestMultiRoutesByModelBalances(t *testing.T) {
	p := newMultiPlugin(t, `{"instances":[
 {"name":"a","provider":"openai","weight":3,"auth":{"header":{"a":"b"}},"models":["gpt-*"]},
 {"name":"b","provider":"openai","weight":1,"auth":{"header":{"a":"b"}}},
 {"name":"c","provider":"openai","weight":5,"auth":{"header":{"a":"b"}},"models":["o3"]}],"allow_on_headers_stop_iteration":true}`)
	var seq strings.Builder
	for range 8 {
		h := newFakeHost(clientHeaders("/v1/chat/completions")...)
		sendRequest(t, p.NewStream(h), h, `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`)
		seq.WriteString(h.props["llm_instance"])
	}
	if seq.String() != "aabaaaba" {
		t.Errorf("instances %s, want a and b 3:1 (aabaaaba), never c", seq.String())
	}
}

// GET /v1/models on a route whose instances declare models is answered by
// the filter: the exact names, once each, in configuration order, with no
// request upstream. A single model is read from the instance serving it.
func TestMultiListsModels(t *testing.T) {
	conf := `{"instances":[
 {"name":"one","provider":"openai","weight":1,"auth":{"header":{"Authorization":"Bearer sk-1"}},"models":["gpt-4o","gpt-4o-*","o3"]},
 {"name":"two","provider":"deepseek","weight":1,"auth":{"header":{"Authorization":"Bearer sk-2"}},"models":["deepseek-chat","o3","*"]},
 {"name":"three","provider":"openai","weight":1,"auth":{"header":{"Authorization":"Bearer sk-3"}}}]}`
	for _, caps := range []Caps{envoyCaps, apisixCaps} {
		p := newMultiPlugin(t, conf)
		p.caps = caps
		h := newFakeHost(withMethod("GET", "/v1/models")...)
		s := p.NewStream(h)
		if a := s.OnRequestHeaders(h.reqHeaders, true); a != Pause || h.local == nil || h.call != nil {
			t.Fatalf("%+v: action %v, local %+v, call %+v", caps, a, h.local, h.call)
		}
		want := `{"object":"list","data":[` +
			`{"id":"gpt-4o","object":"model","created":0,"owned_by":"one"},` +
			`{"id":"o3","object":"model","created":0,"owned_by":"one"},` +
			`{"id":"deepseek-chat","object":"model","created":0,"owned_by":"two"}]}`
		if h.local.status != 200 || string(h.local.body) != want {
			t.Errorf("%+v: %d %s\nwant %s", caps, h.local.status, h.local.body, want)
		}
		s.OnDone()
		if h.props["request_type"] != "traditional_http" {
			t.Errorf("request_type %q", h.props["request_type"])
		}
	}

	// An Anthropic client (it sends anthropic-version) gets Anthropic's
	// list format.
	p := newMultiPlugin(t, conf)
	h := newFakeHost(append(withMethod("GET", "/v1/models"), [2]string{"anthropic-version", "2023-06-01"})...)
	p.NewStream(h).OnRequestHeaders(h.reqHeaders, true)
	if h.local == nil || !strings.HasPrefix(string(h.local.body), `{"data":[{"type":"model","id":"gpt-4o"`) || !strings.Contains(string(h.local.body), `"last_id":"deepseek-chat"}`) {
		t.Errorf("anthropic client got %+v", localString(h.local))
	}

	// One model: from the instance that serves it.
	p = newMultiPlugin(t, strings.Replace(conf, `,"*"`, "", 1))
	h = newFakeHost(withMethod("GET", "/v1/models/deepseek-chat")...)
	if a := p.NewStream(h).OnRequestHeaders(h.reqHeaders, true); a != Continue || h.props["llm_instance"] != "two" {
		t.Fatalf("action %v, instance %q, local %+v", a, h.props["llm_instance"], h.local)
	}
	if auth, _ := get(h.reqHeaders, "authorization"); auth != "Bearer sk-2" {
		t.Errorf("authorization %q", auth)
	}

	// Without models anywhere, the listing is the picked instance's.
	p = newMultiPlugin(t, twoInstances+`}`)
	h = newFakeHost(withMethod("GET", "/v1/models")...)
	if a := p.NewStream(h).OnRequestHeaders(h.reqHeaders, true); a != Continue || h.local != nil || h.props["llm_instance"] != "big" {
		t.Fatalf("action %v, instance %q, local %+v", a, h.props["llm_instance"], h.local)
	}
}

func TestModelList(t *testing.T) {
	got := string(modelList([]Instance{{Name: `a"b`, Models: []string{"m\n1", "*"}}, {Name: "c"}}))
	want := `{"object":"list","data":[{"id":"m\n1","object":"model","created":0,"owned_by":"a\"b"}]}`
	if got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	if got := string(modelList([]Instance{{Name: "a", Models: []string{"x-*"}}})); got != `{"object":"list","data":[]}` {
		t.Errorf("patterns only: %s", got)
	}
	got = string(anthropicModelList([]Instance{{Name: "a", Models: []string{"m1", "x-*"}}, {Name: "b", Models: []string{"m2", "m1"}}}))
	want = `{"data":[{"type":"model","id":"m1","display_name":"m1","created_at":"1970-01-01T00:00:00Z"},` +
		`{"type":"model","id":"m2","display_name":"m2","created_at":"1970-01-01T00:00:00Z"}],"has_more":false,"first_id":"m1","last_id":"m2"}`
	if got != want {
		t.Errorf("anthropic: got %s\nwant %s", got, want)
	}
	if got := string(anthropicModelList(nil)); got != `{"data":[],"has_more":false,"first_id":null,"last_id":null}` {
		t.Errorf("anthropic, nothing listed: %s", got)
	}
}

func localString(l *localReply) string {
	if l == nil {
		return "none"
	}
	return strconv.Itoa(l.status) + " " + string(l.body)
}
