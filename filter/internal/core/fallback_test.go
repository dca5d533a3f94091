package core

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/tidwall/sjson"
)

// threeInstances: "big" (openai, priority 2) is tried first, then "mid"
// (deepseek, priority 1), then "last" (anthropic, priority 0), each with
// its own key and options.
const threeInstances = `{"instances":[
 {"name":"big","provider":"openai","weight":1,"priority":2,"auth":{"header":{"Authorization":"Bearer sk-big"}},"options":{"model":"gpt-4o","temperature":0.1}},
 {"name":"mid","provider":"deepseek","weight":1,"priority":1,"auth":{"header":{"Authorization":"Bearer sk-mid"}},"options":{"model":"deepseek-chat"}},
 {"name":"last","provider":"anthropic","weight":1,"auth":{"header":{"x-api-key":"sk-last"}},"options":{"model":"claude-x"}}]`

var (
	jsonHeaders = func(status string) [][2]string {
		return [][2]string{{":status", status}, {"content-type", "application/json"}}
	}
	okJSON    = []byte(`{"choices":[{"message":{"role":"assistant","content":"hello"}}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`)
	errorJSON = []byte(`{"error":{"message":"slow down","type":"rate_limit_error"}}`)
	// envoyConnectError is Envoy's answer to a callout or request whose
	// upstream it could not reach.
	envoyConnectError = [][2]string{{":status", "503"}, {"content-type", "text/plain"}}
)

// step is what the upstream of one attempt does: answer with headers
// and body, or fail without a status (transport).
type step struct {
	status    string // "" : transport failure (refused, reset, timed out)
	headers   [][2]string
	body      []byte
	delayNano int64 // how long the attempt took
}

func answered(status string, body []byte) step {
	return step{status: status, headers: jsonHeaders(status), body: body}
}

// runFallback sends one chat request through p on an Envoy-like host:
// the first attempt inline, answered by steps[0]; each later step answers
// the callout that the filter sent, if it sent one. It returns the host
// and the clusters the callouts went to.
func runFallback(t *testing.T, p *Plugin, steps []step) (*fakeHost, *Stream, []*callout) {
	t.Helper()
	h := newFakeHost(clientHeaders("/v1/chat/completions")...)
	s := p.NewStream(h)
	if a1, a2 := sendRequest(t, s, h, multiBody); a1 != Continue || a2 != Continue {
		t.Fatalf("first attempt not sent inline: %v %v %+v", a1, a2, h.local)
	}
	var calls []*callout
	for i, st := range steps {
		h.now += st.delayNano
		if i == 0 {
			if st.status == "" {
				s.idleTimeout() // the watchdog: no headers within timeout
			} else {
				eos := st.body == nil
				if s.OnResponseHeaders(st.headers, eos) == Continue && !eos {
					h.respBody = st.body
					s.OnResponseBody(len(st.body), true)
				} else if !eos && h.local == nil {
					h.respBody = st.body
					if a := s.OnResponseBody(len(st.body), true); a == Continue && h.local == nil {
						t.Fatalf("a held failed body must not go on, got %v", a)
					}
				}
			}
		} else {
			if h.call == nil {
				break
			}
			c := h.call
			h.call = nil
			calls = append(calls, c)
			s.OnCallResponse(st.headers, st.body, st.status != "")
		}
	}
	if h.call != nil {
		calls = append(calls, h.call)
	}
	s.OnDone()
	return h, s, calls
}

func TestFallback(t *testing.T) {
	const strategy = `,"fallback_strategy":["http_429","http_5xx"]`
	tests := []struct {
		name       string
		conf       string
		steps      []step
		status     int    // what the client gets
		want       string // in the client's body
		clusters   string // where the callouts went, in order
		instance   string // llm_instance at the end
		attempts   string // in the summary line
		fallbacks  []string
		passedBody bool // the first attempt's answer went through the host
	}{
		{name: "429 falls back to the next priority", conf: strategy,
			steps:  []step{answered("429", errorJSON), answered("200", okJSON)},
			status: 200, want: "hello", clusters: "api.deepseek.com:443", instance: "mid", attempts: `"attempts":2`,
			fallbacks: []string{"llm_fallbacks_total.instance.big.reason.status_429"}},
		{name: "5xx then connect error then success", conf: strategy,
			steps:  []step{answered("500", errorJSON), {status: "503", headers: envoyConnectError, body: []byte("upstream connect error")}, answered("200", []byte(`{"content":[{"type":"text","text":"from claude"}],"usage":{"input_tokens":1,"output_tokens":1}}`))},
			status: 200, want: "from claude", clusters: "api.deepseek.com:443 api.anthropic.com:443", instance: "last", attempts: `"attempts":3`,
			fallbacks: []string{"llm_fallbacks_total.instance.big.reason.status_5xx", "llm_fallbacks_total.instance.mid.reason.transport"}},
		{name: "timeout before headers falls back", conf: strategy,
			steps:  []step{{}, answered("200", okJSON)},
			status: 200, want: "hello", clusters: "api.deepseek.com:443", instance: "mid", attempts: `"attempts":2`,
			fallbacks: []string{"llm_fallbacks_total.instance.big.reason.transport"}},
		{name: "a status outside the classes is returned at once", conf: strategy,
			steps:  []step{answered("401", errorJSON)},
			status: 401, passedBody: true, instance: "big", attempts: `"attempts":1`},
		{name: "5xx is not retried under http_429 alone", conf: `,"fallback_strategy":"http_429"`,
			steps:  []step{answered("500", errorJSON)},
			status: 500, passedBody: true, instance: "big", attempts: `"attempts":1`},
		{name: "no fallback_strategy, no retry", conf: ``,
			steps:  []step{answered("429", errorJSON)},
			status: 429, passedBody: true, instance: "big", attempts: `"attempts":1`},
		{name: "fallback_http_statuses retries a 401", conf: `,"fallback_http_statuses":[401,402]`,
			steps:  []step{answered("401", errorJSON), answered("200", okJSON)},
			status: 200, want: "hello", clusters: "api.deepseek.com:443", instance: "mid", attempts: `"attempts":2`,
			fallbacks: []string{"llm_fallbacks_total.instance.big.reason.status_listed"}},
		{name: "max_retries 0 returns the first failure", conf: strategy + `,"max_retries":0`,
			steps:  []step{answered("429", errorJSON)},
			status: 429, passedBody: true, instance: "big", attempts: `"attempts":1`},
		{name: "max_retries 1 returns the second failure, its real status and body", conf: strategy + `,"max_retries":1`,
			steps:  []step{answered("429", errorJSON), answered("502", []byte(`{"error":{"message":"mid is down","type":"server_error"}}`))},
			status: 502, want: "mid is down", clusters: "api.deepseek.com:443", instance: "mid", attempts: `"attempts":2`},
		{name: "a slow failure is returned, not retried", conf: strategy + `,"retry_on_failure_within_ms":1000`,
			steps:  []step{{status: "503", headers: jsonHeaders("503"), body: errorJSON, delayNano: 5e9}},
			status: 503, passedBody: true, instance: "big", attempts: `"attempts":1`},
		{name: "a fast failure within retry_on_failure_within_ms is retried", conf: strategy + `,"retry_on_failure_within_ms":1000`,
			steps:  []step{answered("503", errorJSON), answered("200", okJSON)},
			status: 200, want: "hello", clusters: "api.deepseek.com:443", instance: "mid", attempts: `"attempts":2`},
		{name: "every instance unreachable: 502", conf: strategy,
			steps:  []step{{}, {}, {status: "503", headers: envoyConnectError}},
			status: 502, want: "3 attempts failed to connect or timed out", clusters: "api.deepseek.com:443 api.anthropic.com:443", instance: "last", attempts: `"attempts":3`},
		{name: "the last real answer wins over later transport failures", conf: strategy,
			steps:  []step{answered("429", errorJSON), {}, {}},
			status: 429, want: "slow down", clusters: "api.deepseek.com:443 api.anthropic.com:443", instance: "last", attempts: `"attempts":3`},
		{name: "all instances tried: the last answer goes to the client", conf: strategy,
			steps:  []step{answered("500", errorJSON), answered("500", errorJSON), answered("529", []byte(`{"type":"error","error":{"type":"overloaded_error","message":"claude overloaded"}}`))},
			status: 529, want: "claude overloaded", clusters: "api.deepseek.com:443 api.anthropic.com:443", instance: "last", attempts: `"attempts":3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newMultiPlugin(t, threeInstances+tt.conf+`,"logging":{"summaries":true}}`)
			h, _, calls := runFallback(t, p, tt.steps)
			var clusters []string
			for _, c := range calls {
				clusters = append(clusters, c.cluster)
			}
			if got := strings.Join(clusters, " "); got != tt.clusters {
				t.Errorf("callouts to %q, want %q", got, tt.clusters)
			}
			if tt.passedBody {
				if h.local != nil {
					t.Fatalf("the upstream's answer should pass through the host, got local reply %d %s", h.local.status, h.local.body)
				}
			} else if status, body := clientAnswer(h); status != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("client got %d %s, want %d with %q", status, body, tt.status, tt.want)
			}
			if h.props["llm_instance"] != tt.instance {
				t.Errorf("llm_instance %q, want %q", h.props["llm_instance"], tt.instance)
			}
			if !h.logged(tt.attempts) {
				t.Errorf("summary lacks %s: %q", tt.attempts, h.logs)
			}
			for _, m := range tt.fallbacks {
				if h.metrics[m] != 1 {
					t.Errorf("metric %s = %d; metrics %v", m, h.metrics[m], h.metrics)
				}
			}
		})
	}
}

// A retry is rebuilt from the client's bytes with the next instance's
// own credentials and options: nothing of the failed attempt leaks.
func TestFallbackDoesNotLeak(t *testing.T) {
	p := newMultiPlugin(t, threeInstances+`,"fallback_strategy":"http_429"}`)
	_, _, calls := runFallback(t, p, []step{answered("429", errorJSON), answered("200", okJSON)})
	if len(calls) != 1 {
		t.Fatalf("%d callouts", len(calls))
	}
	c := calls[0]
	body := string(c.body)
	if !strings.Contains(body, `"model":"deepseek-chat"`) || strings.Contains(body, "temperature") || strings.Contains(body, "gpt-4o") {
		t.Errorf("retry body carries the failed attempt's options: %s", body)
	}
	for _, kv := range c.headers {
		if strings.Contains(kv[1], "sk-big") || strings.Contains(kv[1], "client-secret") {
			t.Errorf("retry header %s: %s leaks", kv[0], kv[1])
		}
	}
	if auth, _ := get(c.headers, "authorization"); auth != "Bearer sk-mid" {
		t.Errorf("retry authorization %q", auth)
	}
	if a, _ := get(c.headers, ":authority"); a != "api.deepseek.com" {
		t.Errorf("retry :authority %q", a)
	}
}

// A stream whose first attempt fails is answered after the fallback in
// one piece, in the client's protocol, with the stream's content type.
func TestFallbackStream(t *testing.T) {
	p := newMultiPlugin(t, threeInstances+`,"fallback_strategy":"http_5xx"}`)
	h := newFakeHost(clientHeaders("/v1/chat/completions")...)
	s := p.NewStream(h)
	sendRequest(t, s, h, `{"model":"x","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if s.OnResponseHeaders(jsonHeaders("503"), false) != Pause {
		t.Fatal("the failed response is not held")
	}
	sse := "data: {\"choices\":[{\"delta\":{\"content\":\"streamed\"}}]}\n\ndata: [DONE]\n\n"
	s.OnCallResponse([][2]string{{":status", "200"}, {"content-type", "text/event-stream"}}, []byte(sse), true)
	if h.local == nil || h.local.status != 200 || !strings.Contains(string(h.local.body), "streamed") {
		t.Fatalf("local %+v", h.local)
	}
	if ct, _ := get(h.local.headers, "content-type"); ct != "text/event-stream" {
		t.Errorf("content-type %q", ct)
	}
}

// On a host without body rewriting (APISIX) every attempt is a callout.
func TestFallbackAPISIX(t *testing.T) {
	mc := threeInstances + `,"fallback_strategy":["http_429"]}`
	p := newMultiPluginCaps(t, mc, apisixCaps)
	h := newFakeHost(clientHeaders("/v1/chat/completions")...)
	s := p.NewStream(h)
	sendRequest(t, s, h, multiBody)
	if h.call == nil || h.call.cluster != "api.openai.com:443" {
		t.Fatalf("first callout %+v", h.call)
	}
	h.call = nil
	s.OnCallResponse(jsonHeaders("429"), errorJSON, true)
	if h.call == nil || h.call.cluster != "api.deepseek.com:443" {
		t.Fatalf("second callout %+v", h.call)
	}
	s.OnCallResponse(jsonHeaders("200"), okJSON, true)
	if h.local == nil || h.local.status != 200 || !strings.Contains(string(h.local.body), "hello") {
		t.Fatalf("local %+v", h.local)
	}
}

func newMultiPluginCaps(t *testing.T, conf string, caps Caps) *Plugin {
	t.Helper()
	mc, err := ParsePluginConfig([]byte(conf), nil)
	if err != nil {
		t.Fatal(err)
	}
	return NewMultiPlugin(mc, caps, newFakeRoot())
}

// Envoy's own reply for an unreachable first instance is a local reply
// passing through the filter, which a second local reply would stall
// (envoyproxy/envoy#28826): the retry's answer is written into it, with
// its status, headers and body, and the reply goes on.
func TestFallbackRewritesHostReply(t *testing.T) {
	for _, bodyFirst := range []bool{true, false} {
		p := newMultiPlugin(t, threeInstances+`,"fallback_strategy":"http_5xx"}`)
		h := newFakeHost(clientHeaders("/v1/chat/completions")...)
		s := p.NewStream(h)
		sendRequest(t, s, h, multiBody)
		h.respHeaders = append([][2]string(nil), envoyConnectError...)
		h.respHeaders = append(h.respHeaders, [2]string{"content-length", "22"})
		if s.OnResponseHeaders(h.respHeaders, false) != Pause || h.call == nil {
			t.Fatal("the host's reply is not held while the next instance is called")
		}
		h.respBody = []byte("upstream connect error")
		if bodyFirst && s.OnResponseBody(len(h.respBody), true) != Pause {
			t.Fatal("the host's reply body is not kept for the answer")
		}
		s.OnCallResponse(jsonHeaders("200"), okJSON, true)
		if h.local != nil || h.continued != 1 {
			t.Fatalf("want the reply rewritten and continued once, got local %+v, %d continues", h.local, h.continued)
		}
		if !bodyFirst {
			if a := s.OnResponseBody(len(h.respBody), true); a != Continue {
				t.Fatalf("body after the answer: %v", a)
			}
		}
		st, _ := get(h.respHeaders, ":status")
		cl, _ := get(h.respHeaders, "content-length")
		if st != "200" || cl != strconv.Itoa(len(h.respBody)) || !strings.Contains(string(h.respBody), "hello") {
			t.Errorf("bodyFirst %v: reply %v %s", bodyFirst, h.respHeaders, h.respBody)
		}
	}
}

// An instance passed over for its health or its budget counts in the
// fallback metric under reason unhealthy or rate_limited.
func TestFallbackSkipReasons(t *testing.T) {
	for _, tt := range []struct {
		name, conf, metric string
		first              step
	}{
		{"cooldown after a 429", `,"fallback_strategy":"instance_health_and_rate_limiting"}`, "llm_fallbacks_total.instance.big.reason.unhealthy", answered("429", errorJSON)},
		{"budget used up", `,"fallback_strategy":["rate_limiting"]},"ai-rate-limiting":{"instances":[{"name":"big","limit":1,"time_window":60}]}}`, "llm_fallbacks_total.instance.big.reason.rate_limited", answered("200", okJSON)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conf := threeInstances + tt.conf
			if strings.Contains(tt.conf, "ai-rate-limiting") {
				conf = `{"ai-proxy-multi":` + conf
			}
			p := newMultiPlugin(t, conf)
			runFallback(t, p, []step{tt.first})
			h, _, _ := runFallback(t, p, []step{answered("200", okJSON)})
			if h.props["llm_instance"] != "mid" || h.metrics[tt.metric] < 1 {
				t.Errorf("picked %q; metric %s = %d; metrics %v", h.props["llm_instance"], tt.metric, h.metrics[tt.metric], h.metrics)
			}
		})
	}
}

// A retry to an instance that signs (Bedrock, SigV4) or mints a token
// (Vertex AI, a GCP service account) gets its own signature or token,
// fetched for the retry when the first attempt needed none.
func TestFallbackToSignedInstances(t *testing.T) {
	sa, err := os.ReadFile("testdata/service-account.json")
	if err != nil {
		t.Fatal(err)
	}
	first := `{"name":"first","provider":"openai","weight":1,"priority":1,"auth":{"header":{"Authorization":"Bearer sk-first"}}}`
	bedrock := `{"name":"bedrock","provider":"bedrock","weight":1,"provider_conf":{"region":"us-east-1"},"options":{"model":"anthropic.claude-x"},` +
		`"auth":{"aws":{"access_key_id":"AKID","secret_access_key":"secret"}}}`
	vertex, _ := sjson.Set(`{"name":"vertex","provider":"vertex-ai","weight":1,"provider_conf":{"project_id":"p","region":"us-central1"},"options":{"model":"google/gemini-x"}}`,
		"auth.gcp.service_account_json", string(sa))
	for _, tt := range []struct {
		name, second, cluster, auth string
		token                       bool
	}{
		{"bedrock", bedrock, "bedrock-runtime.us-east-1.amazonaws.com:443", "AWS4-HMAC-SHA256 Credential=AKID/", false},
		{"vertex", vertex, "us-central1-aiplatform.googleapis.com:443", "Bearer ya29.fresh", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newMultiPlugin(t, `{"instances":[`+first+`,`+tt.second+`],"fallback_strategy":"http_5xx"}`)
			h := newFakeHost(clientHeaders("/v1/chat/completions")...)
			s := p.NewStream(h)
			sendRequest(t, s, h, multiBody)
			if s.OnResponseHeaders(jsonHeaders("503"), false) != Pause || h.call == nil {
				t.Fatalf("no retry: %+v", h.local)
			}
			if tt.token {
				if h.call.cluster != "oauth2.googleapis.com:443" {
					t.Fatalf("want the token exchange first, got a callout to %s", h.call.cluster)
				}
				h.call = nil
				s.OnCallResponse(jsonHeaders("200"), []byte(`{"access_token":"ya29.fresh","expires_in":3600,"token_type":"Bearer"}`), true)
				if h.call == nil {
					t.Fatalf("no retry after the token: %+v", h.local)
				}
			}
			auth, _ := get(h.call.headers, "authorization")
			if h.call.cluster != tt.cluster || !strings.HasPrefix(auth, tt.auth) {
				t.Fatalf("retry to %s with authorization %q", h.call.cluster, auth)
			}
			for _, kv := range h.call.headers {
				if strings.Contains(kv[1], "sk-first") {
					t.Errorf("the first instance's key leaks in %s", kv[0])
				}
			}
		})
	}
}

// When every retry fails without a status, the client gets the held first
// answer: its own status and headers, and its body converted to the
// client's protocol. With allow_on_headers_stop_iteration the body came
// while the retry ran, stays buffered in the host and the answer is
// written into it; without it Envoy keeps the body from the filter while
// the headers are held (StopAllIterationAndWatermark), so the held
// response goes on and its body comes through the filter as usual.
// Either way the upstream's headers (Retry-After) reach the client.
func TestFallbackReleasesHeldAnswer(t *testing.T) {
	for _, bodyFirst := range []bool{true, false} {
		p := newMultiPlugin(t, threeInstances+`,"fallback_strategy":["http_429","http_5xx"]}`)
		h := newFakeHost(clientHeaders("/v1/chat/completions")...)
		s := p.NewStream(h)
		sendRequest(t, s, h, multiBody)
		h.respHeaders = append(jsonHeaders("429"), [2]string{"content-length", strconv.Itoa(len(errorJSON))}, [2]string{"retry-after", "7"})
		if s.OnResponseHeaders(h.respHeaders, false) != Pause || h.call == nil {
			t.Fatal("the 429 is not held while the next instance is called")
		}
		h.respBody = append([]byte(nil), errorJSON...)
		if bodyFirst && s.OnResponseBody(len(h.respBody), true) != Pause {
			t.Fatal("the held body is not kept in the host")
		}
		for h.call != nil { // every other instance fails without a status
			h.call = nil
			s.OnCallResponse(nil, nil, false)
		}
		if h.local != nil || h.continued != 1 {
			t.Fatalf("bodyFirst %v: want the held 429 continued once, got local %+v, %d continues", bodyFirst, h.local, h.continued)
		}
		if !bodyFirst {
			if a := s.OnResponseBody(len(h.respBody), true); a != Continue {
				t.Fatalf("the held body after the continue: %v", a)
			}
		}
		if status, body := clientAnswer(h); status != 429 || !strings.Contains(body, "slow down") {
			t.Errorf("bodyFirst %v: client got %d %s", bodyFirst, status, body)
		}
		if ra, _ := get(h.respHeaders, "retry-after"); ra != "7" {
			t.Errorf("bodyFirst %v: the upstream's Retry-After is lost: %v", bodyFirst, h.respHeaders)
		}
	}
}

// clientAnswer is what the client gets: the filter's local reply, or the
// response the host holds, as the filter left it.
func clientAnswer(h *fakeHost) (int, string) {
	if h.local != nil {
		return h.local.status, string(h.local.body)
	}
	st, _ := get(h.respHeaders, ":status")
	status, _ := strconv.Atoi(st)
	return status, string(h.respBody)
}
