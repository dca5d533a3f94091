package core

import (
	"strings"
	"testing"
)

const twoInstances = `{"instances":[
 {"name":"big","provider":"openai","weight":8,"auth":{"header":{"Authorization":"Bearer sk-big"}},"options":{"model":"gpt-4o"}},
 {"name":"small","provider":"deepseek","weight":2,"auth":{"header":{"Authorization":"Bearer sk-small"}},"options":{"model":"deepseek-chat"}}]`

func newMultiPlugin(t *testing.T, conf string) *Plugin {
	t.Helper()
	mc, err := ParsePluginConfig([]byte(conf), nil)
	if err != nil {
		t.Fatal(err)
	}
	return NewMultiPlugin(mc, envoyCaps, newFakeRoot())
}

const multiBody = `{"model":"x","messages":[{"role":"user","content":"hi"}]}`

// Each request goes to the instance the balancer picks, with that
// instance's own authority, credentials and options, and the access log
// and metrics name the instance.
func TestMultiRequestsGoToTheirInstance(t *testing.T) {
	p := newMultiPlugin(t, twoInstances+`}`)
	var seq strings.Builder
	for range 10 {
		h := newFakeHost(clientHeaders("/v1/chat/completions")...)
		s := p.NewStream(h)
		if a1, a2 := sendRequest(t, s, h, multiBody); a1 != Continue || a2 != Continue {
			t.Fatalf("actions %v %v local %+v", a1, a2, h.local)
		}
		authority, _ := get(h.reqHeaders, ":authority")
		auth, _ := get(h.reqHeaders, "authorization")
		inst := h.props["llm_instance"]
		switch {
		case inst == "big" && authority == "api.openai.com" && auth == "Bearer sk-big" && strings.Contains(string(h.reqBody), `"gpt-4o"`):
			seq.WriteString("b")
		case inst == "small" && authority == "api.deepseek.com" && auth == "Bearer sk-small" && strings.Contains(string(h.reqBody), `"deepseek-chat"`):
			seq.WriteString("s")
		default:
			t.Fatalf("instance %q sent to %s with %q: %s", inst, authority, auth, h.reqBody)
		}
		s.OnResponseHeaders([][2]string{{":status", "200"}, {"content-type", "application/json"}}, false)
		h.respBody = []byte(`{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
		s.OnResponseBody(len(h.respBody), true)
		s.OnDone()
		if inst == "small" && h.metrics["llm_requests_total.instance.small.provider.deepseek.model.deepseek-chat.status.2xx"] != 1 {
			t.Errorf("metrics %v", h.metrics)
		}
	}
	if seq.String() != "bbsbbbbsbb" {
		t.Errorf("instances %s, want 8:2 smooth (bbsbbbbsbb)", seq.String())
	}
}

// When every instance is excluded the client gets 503 in its own
// protocol's error format, and nothing goes upstream.
func TestMultiAllExcluded(t *testing.T) {
	p := newMultiPlugin(t, twoInstances+`}`)
	p.testExcluded = func(int) bool { return true }
	for _, tt := range []struct{ path, want string }{
		{"/v1/chat/completions", `"error":{"message":"no instance of ai-proxy-multi is available"`},
		{"/v1/messages", `"type":"error"`},
	} {
		h := newFakeHost(clientHeaders(tt.path)...)
		s := p.NewStream(h)
		sendRequest(t, s, h, multiBody)
		if h.local == nil || h.local.status != 503 || !strings.Contains(string(h.local.body), tt.want) {
			t.Fatalf("%s: local reply %+v", tt.path, h.local)
		}
		if body := string(h.local.body); !strings.Contains(body, "no instance of ai-proxy-multi is available") {
			t.Errorf("%s: body %s", tt.path, body)
		}
	}
	p.testExcluded = func(i int) bool { return i == 0 }
	h := newFakeHost(clientHeaders("/v1/chat/completions")...)
	sendRequest(t, p.NewStream(h), h, multiBody)
	if h.props["llm_instance"] != "small" {
		t.Errorf("with big excluded, picked %q", h.props["llm_instance"])
	}
}

// chash on a header: the same key always reaches the same instance.
func TestMultiConsistentHashOnHeader(t *testing.T) {
	p := newMultiPlugin(t, twoInstances+`,"balancer":{"algorithm":"chash","hash_on":"header","key":"X-User"}}`)
	seen := map[string]string{}
	both := map[string]bool{}
	for round := range 3 {
		for _, user := range []string{"u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"} {
			h := newFakeHost(clientHeaders("/v1/chat/completions", [2]string{"x-user", user})...)
			sendRequest(t, p.NewStream(h), h, multiBody)
			inst := h.props["llm_instance"]
			if round > 0 && seen[user] != inst {
				t.Fatalf("user %s went to %s, then %s", user, seen[user], inst)
			}
			seen[user] = inst
			both[inst] = true
		}
	}
	if len(both) != 2 {
		t.Errorf("8 users all went to %v", both)
	}
}

func TestHashKey(t *testing.T) {
	headers := [][2]string{{":path", "/v1/chat/completions?team=red&x=1"}, {":authority", "gw"}, {"x-user", "ann"},
		{"cookie", "a=1; session=s42"}, {"x-consumer", "acme"}}
	tests := []struct{ hashOn, key, want string }{
		{"header", "X-User", "ann"},
		{"cookie", "session", "s42"},
		{"consumer", "", "acme"},
		{"vars", "uri", "/v1/chat/completions"},
		{"vars", "request_uri", "/v1/chat/completions?team=red&x=1"},
		{"vars", "host", "gw"},
		{"vars", "arg_team", "red"},
		{"vars", "http_x_user", "ann"},
		{"vars", "cookie_a", "1"},
		{"vars", "remote_addr", "10.0.0.7"},
		{"vars", "remote_port", "4242"},
		{"vars_combinations", "$http_x_user-$arg_team", "ann-red"},
		{"vars_combinations", "$remote_addr|$http_x_user", "10.0.0.7|ann"},
		{"header", "x-missing", ""},
	}
	for _, tt := range tests {
		mc := &MultiConfig{HashOn: tt.hashOn, Key: tt.key, ConsumerHeader: DefaultConsumerHeader}
		s := &Stream{h: &fakeHost{clientAddr: "10.0.0.7:4242"}}
		if got := s.hashKey(mc, headers); got != tt.want {
			t.Errorf("%s %q: key %q, want %q", tt.hashOn, tt.key, got, tt.want)
		}
	}
}

// The summary log line names the instance.
func TestMultiLogs(t *testing.T) {
	p := newMultiPlugin(t, `{"ai-proxy-multi":`+twoInstances+`,"logging":{"summaries":true}}}`)
	for i := range 2 {
		h := newFakeHost(clientHeaders("/v1/chat/completions")...)
		s := p.NewStream(h)
		sendRequest(t, s, h, multiBody)
		s.OnResponseHeaders([][2]string{{":status", "200"}, {"content-type", "application/json"}}, false)
		h.respBody = []byte(`{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
		s.OnResponseBody(len(h.respBody), true)
		s.OnDone()
		if !h.logged(`"provider":"openai","instance":"big"`) {
			t.Errorf("request %d logged %q", i, h.logs)
		}
	}
}

// A pick asks about each instance only when something can exclude one:
// otherwise the balancer runs without a per-member call (SelectInstance
// at 128 instances).
func TestExclusionOnlyWhenSomethingExcludes(t *testing.T) {
	for _, tt := range []struct {
		conf string
		want bool
	}{
		{twoInstances + `}`, false},
		{twoInstances + `,"fallback_strategy":"http_429"}`, false},
		{twoInstances + `,"fallback_strategy":"instance_health_and_rate_limiting"}`, true},
		{`{"ai-proxy-multi":` + twoInstances + `,"fallback_strategy":["rate_limiting"]},"ai-rate-limiting":{"limit":10,"time_window":60}}`, true},
		{strings.Replace(twoInstances, `"weight":2,`, `"weight":2,"models":["m"],`, 1) + `}`, true},
	} {
		p := newMultiPlugin(t, tt.conf)
		s := p.NewStream(newFakeHost())
		if got := s.exclusion() != nil; got != tt.want {
			t.Errorf("%s: exclusion set %v, want %v", tt.conf, got, tt.want)
		}
	}
}
