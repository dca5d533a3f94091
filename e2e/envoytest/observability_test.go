package envoytest

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testAccessLog: the example's access log prints the filter-state values
// the filter publishes (%FILTER_STATE(wasm.llm_prompt_tokens:PLAIN)% and
// the rest), read from the access-log file of the example's listener.
func testAccessLog(t *testing.T, r *rig) {
	g := r.gw["llm_gateway"]
	// 4 prompt words; the mock answers "You said: <prompt>", 6 words.
	prompt := "count my tokens please"
	if resp, body := g.post(t, "/v1/chat/completions", `{"model":"acl-chat","messages":[{"role":"user","content":"`+prompt+`"}]}`); resp.StatusCode != 200 {
		t.Fatalf("chat: %d %s", resp.StatusCode, body)
	}
	if resp, body := g.post(t, "/v1/chat/completions", `{"model":"acl-stream","stream":true,"messages":[{"role":"user","content":"`+prompt+`"}]}`); resp.StatusCode != 200 {
		t.Fatalf("stream: %d %s", resp.StatusCode, body)
	}
	// The example's format has no request id: the client's model tells
	// the entries apart.
	for i, want := range []map[string]string{
		{"request_type": "ai_chat", "request_llm_model": "acl-chat"},
		{"request_type": "ai_stream", "request_llm_model": "acl-stream"},
	} {
		e := r.accessLogEntry(t, "llm_gateway", "request_llm_model", want["request_llm_model"])
		want["status"] = "200"
		want["llm_model"] = "gpt-4o-mini"
		want["llm_prompt_tokens"] = "4"
		want["llm_completion_tokens"] = "6"
		want["llm_total_tokens"] = "10"
		want["llm_cache_read_input_tokens"] = "0"
		want["llm_reasoning_tokens"] = "0"
		for k, v := range want {
			if e[k] != v {
				t.Errorf("access log entry %d: %s = %q, want %q (entry %v)", i, k, e[k], v, e)
			}
		}
		if ms, err := strconv.Atoi(e["llm_time_to_first_token"]); err != nil || ms < 0 {
			t.Errorf("access log entry %d: llm_time_to_first_token = %q", i, e["llm_time_to_first_token"])
		}
		if !strings.Contains(e["upstream_host"], ":") {
			t.Errorf("access log entry %d: upstream_host = %q", i, e["upstream_host"])
		}
	}
}

// testPrometheus: /stats/prometheus shows the filter's metrics with the
// labels the example's stats_tags make of their names.
func testPrometheus(t *testing.T, r *rig) {
	var prom string
	for _, re := range []string{
		`(?m)^llm_requests_total\{provider="openai",model="gpt-4o-mini",status="2xx"\} [1-9]`,
		`(?m)^llm_requests_total\{provider="openai",model="gpt-4o-mini",status="4xx"\} [1-9]`,
		`(?m)^llm_requests_total\{provider="openai",model="gpt-4o-mini",status="5xx"\} [1-9]`,
		`(?m)^llm_tokens_total\{provider="openai",model="gpt-4o-mini",kind="prompt"\} [1-9]`,
		`(?m)^llm_tokens_total\{provider="openai",model="gpt-4o-mini",kind="completion"\} [1-9]`,
		`(?m)^llm_requests_total\{provider="bedrock",model="anthropic_claude-3-5-sonnet-20240620-v1_0",status="2xx"\} [1-9]`,
		`(?m)^llm_requests_total\{provider="vertex-ai",model="google_gemini-2_0-flash",status="2xx"\} 40$`,
		`(?m)^llm_latency_ms_bucket\{provider="openai",model="gpt-4o-mini",status="2xx",le="60000"\} [1-9]`,
		`(?m)^llm_ttft_ms_count\{provider="openai",model="gpt-4o-mini"\} [1-9]`,
	} {
		// Histograms reach the admin endpoints at a stats flush (every 5 s).
		deadline := time.Now().Add(15 * time.Second)
		for prom = r.Prometheus(t); !regexp.MustCompile(re).MatchString(prom) && time.Now().Before(deadline); prom = r.Prometheus(t) {
			time.Sleep(200 * time.Millisecond)
		}
		if !regexp.MustCompile(re).MatchString(prom) {
			t.Errorf("/stats/prometheus has no line matching %s", re)
		}
	}
	if t.Failed() {
		var ours []string
		for _, l := range strings.Split(prom, "\n") {
			if strings.HasPrefix(l, "llm_") || strings.HasPrefix(l, "# TYPE llm_") {
				ours = append(ours, l)
			}
		}
		t.Logf("the llm_ lines of /stats/prometheus:\n%s", strings.Join(ours, "\n"))
	}
}
