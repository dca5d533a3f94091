package core

import (
	"strconv"
	"strings"
	"testing"
)

// budgetPlugins are n workers' plugins of one configuration, sharing one
// root's shared data as Envoy's workers do.
func budgetPlugins(t *testing.T, conf string, caps Caps, n int) []*Plugin {
	t.Helper()
	root := newFakeRoot()
	var ps []*Plugin
	for range n {
		mc, err := ParsePluginConfig([]byte(conf), nil)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, NewMultiPlugin(mc, caps, root))
	}
	return ps
}

// serve runs one chat request whose answer reports totalTokens (prompt
// tokens 1, the rest completion), and returns its host: h.local is set
// when the filter answered itself.
func serve(t *testing.T, p *Plugin, totalTokens int, extra ...[2]string) *fakeHost {
	t.Helper()
	return serveOn(t, p, newFakeHost(clientHeaders("/v1/chat/completions", extra...)...), totalTokens)
}

// serveOn is serve on a host the caller prepared.
func serveOn(t *testing.T, p *Plugin, h *fakeHost, totalTokens int) *fakeHost {
	t.Helper()
	s := p.NewStream(h)
	sendRequest(t, s, h, multiBody)
	if h.local != nil {
		s.OnDone()
		return h
	}
	usage := `{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":` + strconv.Itoa(totalTokens-1) + `,"total_tokens":` + strconv.Itoa(totalTokens) + `}}`
	if p.caps.BodyRewrite {
		s.OnResponseHeaders([][2]string{{":status", "200"}, {"content-type", "application/json"}}, false)
		h.respBody = []byte(usage)
		s.OnResponseBody(len(h.respBody), true)
	} else {
		s.OnCallResponse([][2]string{{":status", "200"}, {"content-type", "application/json"}}, []byte(usage), true)
	}
	s.OnDone()
	return h
}

// headersOf returns the response headers a client sees: the local reply's
// or the upstream's as the filter set them.
func headersOf(h *fakeHost) [][2]string {
	if h.local != nil {
		return h.local.headers
	}
	return h.respHeaders
}

func wantHeaders(t *testing.T, what string, h *fakeHost, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got, ok := get(headersOf(h), k); !ok || got != v {
			t.Errorf("%s: %s = %q (present %v), want %q; headers %v", what, k, got, ok, v, headersOf(h))
		}
	}
}

// APISIX's first example: ai-proxy with a budget of 100 tokens per 60 s.
// The headers show what was left before the request; the request that
// spends the rest goes through (its cost is known only afterwards), the
// next is rejected with 503 in the client's protocol, in callout mode too.
func TestBudgetPlainAIProxy(t *testing.T) {
	for _, caps := range []Caps{envoyCaps, apisixCaps} {
		p := budgetPlugins(t, `{"ai-proxy":`+openaiConf+`,"ai-rate-limiting":{"limit":100,"time_window":60}}`, caps, 1)[0]
		h := serve(t, p, 70)
		wantHeaders(t, "first", h, map[string]string{"X-AI-RateLimit-Limit-ai-proxy-openai": "100", "X-AI-RateLimit-Remaining-ai-proxy-openai": "100", "X-AI-RateLimit-Reset-ai-proxy-openai": "40"})
		h = serve(t, p, 70)
		wantHeaders(t, "second", h, map[string]string{"X-AI-RateLimit-Remaining-ai-proxy-openai": "30"})
		if h.local != nil && h.local.status != 200 {
			t.Fatalf("second request rejected with %d", h.local.status)
		}
		h = serve(t, p, 70)
		if h.local == nil || h.local.status != 503 || !strings.Contains(string(h.local.body), `"error"`) || !strings.Contains(string(h.local.body), "ai-proxy-openai is used up") {
			t.Fatalf("third request: %+v, want 503 with an OpenAI error", h.local)
		}
		wantHeaders(t, "rejected", h, map[string]string{"X-AI-RateLimit-Remaining-ai-proxy-openai": "0"})
		if h.reqBody != nil && h.call != nil {
			t.Errorf("a rejected request went upstream")
		}
		if h.metrics["llm_rejections_total.instance.ai-proxy-openai.reason.rate_limited"] != 1 {
			t.Errorf("metrics %v", h.metrics)
		}
	}
}

// Workers share one budget: what one spends, the other sees.
func TestBudgetSharedByWorkers(t *testing.T) {
	ps := budgetPlugins(t, `{"ai-proxy":`+openaiConf+`,"ai-rate-limiting":{"limit":100,"time_window":60}}`, envoyCaps, 2)
	serve(t, ps[0], 60)
	serve(t, ps[1], 50)
	if h := serve(t, ps[0], 1); h.local == nil || h.local.status != 503 {
		t.Fatalf("worker 0 after 110 of 100 tokens: %+v, want 503", h.local)
	}
}

// Without a fallback on rate limiting, the picked instance's exhausted
// budget rejects with rejected_code and rejected_msg; with one, the
// instance is skipped, and when every instance is, the answer is 503.
func TestBudgetRejectionVersusFallback(t *testing.T) {
	const rl = `"ai-rate-limiting":{"instances":[{"name":"big","limit":10,"time_window":60},{"name":"small","limit":10,"time_window":60}],"rejected_code":429,"rejected_msg":"token quota exceeded"}`
	t.Run("reject", func(t *testing.T) {
		p := budgetPlugins(t, `{"ai-proxy-multi":`+twoInstances+`},`+rl+`}`, envoyCaps, 1)[0]
		for range 5 {
			serve(t, p, 20) // big is picked 4 times, small once: both overspent
		}
		h := serve(t, p, 1)
		if h.local == nil || h.local.status != 429 || !strings.Contains(string(h.local.body), "token quota exceeded") {
			t.Fatalf("got %+v, want 429 token quota exceeded", h.local)
		}
	})
	for _, fallback := range []string{`["rate_limiting"]`, `"instance_health_and_rate_limiting"`} {
		t.Run(fallback, func(t *testing.T) {
			p := budgetPlugins(t, `{"ai-proxy-multi":`+twoInstances+`,"fallback_strategy":`+fallback+`},`+rl+`}`, envoyCaps, 1)[0]
			if h := serve(t, p, 20); h.props["llm_instance"] != "big" {
				t.Fatalf("first request went to %q", h.props["llm_instance"])
			}
			h := serve(t, p, 20)
			if h.props["llm_instance"] != "small" || h.local != nil {
				t.Fatalf("after big's budget: instance %q, local %+v; want small", h.props["llm_instance"], h.local)
			}
			// Both budgets were read, and both are shown, as in APISIX.
			wantHeaders(t, "fallback", h, map[string]string{"X-AI-RateLimit-Remaining-big": "0", "X-AI-RateLimit-Remaining-small": "10"})
			h = serve(t, p, 1)
			if h.local == nil || h.local.status != 503 || !strings.Contains(string(h.local.body), "no instance of ai-proxy-multi is available") {
				t.Fatalf("every budget spent: %+v, want 503", h.local)
			}
		})
	}
}

// limit and time_window without instances give every instance the budget,
// one counter for all of them as in APISIX, shown under each one's name.
func TestBudgetDefaultIsShared(t *testing.T) {
	p := budgetPlugins(t, `{"ai-proxy-multi":`+twoInstances+`},"ai-rate-limiting":{"limit":100,"time_window":60}}`, envoyCaps, 1)[0]
	serve(t, p, 20) // big
	serve(t, p, 20) // big
	h := serve(t, p, 20)
	if h.props["llm_instance"] != "small" {
		t.Fatalf("third request went to %q", h.props["llm_instance"])
	}
	wantHeaders(t, "small", h, map[string]string{"X-AI-RateLimit-Remaining-small": "60"})
}

// Budgets per consumer count each consumer apart.
func TestBudgetPerConsumer(t *testing.T) {
	p := budgetPlugins(t, `{"ai-proxy":`+openaiConf+`,"ai-rate-limiting":{"limit":10,"time_window":60,"per_consumer":true}}`, envoyCaps, 1)[0]
	serve(t, p, 10, [2]string{"x-consumer", "ann"})
	if h := serve(t, p, 1, [2]string{"x-consumer", "ann"}); h.local == nil || h.local.status != 503 {
		t.Fatalf("ann's second request: %+v, want 503", h.local)
	}
	if h := serve(t, p, 1, [2]string{"x-consumer", "bob"}); h.local != nil {
		t.Fatalf("bob's request: %+v, want it served", h.local)
	}
}

// Rules: each applies when its key has a value, with its own headers
// (header_prefix or the 1-based index); a request no rule applies to gets
// 500 unless allow_degradation; a count read from a header works per
// request.
func TestBudgetRules(t *testing.T) {
	const rules = `"rules":[{"count":100,"time_window":60,"key":"$http_x_user","header_prefix":"User"},{"count":"${http_x_team_limit}","time_window":60,"key":"$http_x_team"}]`
	p := budgetPlugins(t, `{"ai-proxy":`+openaiConf+`,"ai-rate-limiting":{`+rules+`}}`, envoyCaps, 1)[0]
	ann := [][2]string{{"x-user", "ann"}, {"x-team", "red"}, {"x-team-limit", "50"}}
	h := serve(t, p, 40, ann...)
	wantHeaders(t, "ann", h, map[string]string{"X-AI-User-RateLimit-Limit": "100", "X-AI-User-RateLimit-Remaining": "100", "X-AI-2-RateLimit-Limit": "50", "X-AI-2-RateLimit-Remaining": "50"})
	h = serve(t, p, 40, ann...)
	wantHeaders(t, "ann again", h, map[string]string{"X-AI-User-RateLimit-Remaining": "60", "X-AI-2-RateLimit-Remaining": "10"})
	h = serve(t, p, 1, ann...)
	if h.local == nil || h.local.status != 503 || !strings.Contains(string(h.local.body), "rules[1]") {
		t.Fatalf("team budget spent: %+v, want 503 naming rules[1]", h.local)
	}
	if h := serve(t, p, 1, [2]string{"x-user", "bob"}); h.local != nil {
		t.Fatalf("bob (only the user rule applies): %+v", h.local)
	}
	if h := serve(t, p, 1); h.local == nil || h.local.status != 500 || !strings.Contains(string(h.local.body), "no rule") {
		t.Fatalf("no rule applies: %+v, want 500", h.local)
	}
	if h := serve(t, p, 1, [2]string{"x-team", "blue"}, [2]string{"x-team-limit", "many"}); h.local == nil || h.local.status != 500 {
		t.Fatalf("a count that is not a number: %+v, want 500", h.local)
	}
	p = budgetPlugins(t, `{"ai-proxy":`+openaiConf+`,"ai-rate-limiting":{`+rules+`,"allow_degradation":true}}`, envoyCaps, 1)[0]
	if h := serve(t, p, 1); h.local != nil {
		t.Fatalf("no rule applies, allow_degradation: %+v, want it served", h.local)
	}
}

// The cost is what limit_strategy says, from the response's usage.
func TestBudgetStrategies(t *testing.T) {
	tests := []struct {
		strategy string
		want     string // remaining after one request of prompt 1, completion 29
		gauge    int64  // remaining after two
	}{
		{`"limit_strategy":"total_tokens"`, "70", 40},
		{`"limit_strategy":"prompt_tokens"`, "99", 98},
		{`"limit_strategy":"completion_tokens"`, "71", 42},
		{`"limit_strategy":"expression","cost_expr":"prompt_tokens * 10 + completion_tokens / 2"`, "75", 50}, // 10 + 14.5 → 25 (rounded half up)
	}
	for _, tt := range tests {
		p := budgetPlugins(t, `{"ai-proxy":`+openaiConf+`,"ai-rate-limiting":{"limit":100,"time_window":60,`+tt.strategy+`}}`, envoyCaps, 1)[0]
		serve(t, p, 30)
		h := serve(t, p, 30)
		wantHeaders(t, tt.strategy, h, map[string]string{"X-AI-RateLimit-Remaining-ai-proxy-openai": tt.want})
		if got := h.metrics["llm_budget_remaining.instance.ai-proxy-openai"]; got != tt.gauge {
			t.Errorf("%s: gauge llm_budget_remaining %d, want %d", tt.strategy, got, tt.gauge)
		}
	}
}

// show_limit_quota_header false hides the headers, not the budget.
func TestBudgetHeadersHidden(t *testing.T) {
	p := budgetPlugins(t, `{"ai-proxy":`+openaiConf+`,"ai-rate-limiting":{"limit":10,"time_window":60,"show_limit_quota_header":false}}`, envoyCaps, 1)[0]
	h := serve(t, p, 10)
	h2 := serve(t, p, 10)
	for _, hh := range []*fakeHost{h, h2} {
		for _, kv := range headersOf(hh) {
			if strings.Contains(kv[0], "RateLimit") {
				t.Errorf("header %s shown", kv[0])
			}
		}
	}
	if h2.local == nil || h2.local.status != 503 {
		t.Fatalf("second request: %+v, want 503", h2.local)
	}
}

// A whole request with one instance budget: check, headers and charge,
// next to BenchmarkStages/4-done without one.
func BenchmarkBudgetRequest(b *testing.B) {
	mc, err := ParsePluginConfig([]byte(`{"ai-proxy":`+openaiConf+`,"ai-rate-limiting":{"limit":1000000000000,"time_window":60}}`), nil)
	if err != nil {
		b.Fatal(err)
	}
	p := NewMultiPlugin(mc, envoyCaps, newFakeRoot())
	body := []byte(multiBody)
	resp := []byte(`{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}`)
	hdrs := clientHeaders("/v1/chat/completions")
	b.ReportAllocs()
	for range b.N {
		h := &nopHost{}
		s := p.NewStream(h)
		s.OnRequestHeaders(hdrs, false)
		h.reqBody = body
		s.OnRequestBody(len(body), true)
		s.OnResponseHeaders([][2]string{{":status", "200"}, {"content-type", "application/json"}}, false)
		h.respBody = resp
		s.OnResponseBody(len(resp), true)
		s.OnDone()
	}
}

// The filter's own error after the budget check (here the watchdog's
// 504) carries the quota headers too, as the upstream's answers do.
func TestBudgetHeadersOnFilterErrors(t *testing.T) {
	p := newMultiPlugin(t, `{"ai-proxy":{"provider":"openai","auth":{"header":{"Authorization":"Bearer k"}}},"ai-rate-limiting":{"limit":100,"time_window":60}}`)
	h := newFakeHost(clientHeaders("/v1/chat/completions")...)
	s := p.NewStream(h)
	sendRequest(t, s, h, multiBody)
	s.idleTimeout()
	if h.local == nil || h.local.status != 504 {
		t.Fatalf("local %+v", h.local)
	}
	if v, _ := get(h.local.headers, "X-AI-RateLimit-Limit-ai-proxy-openai"); v != "100" {
		t.Errorf("headers %v", h.local.headers)
	}
}
