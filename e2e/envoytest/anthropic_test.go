package envoytest

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// testAnthropic: an Anthropic Messages client through the example (an
// OpenAI provider), non-streaming and streaming, and an OpenAI client to
// native Anthropic (override.endpoint …/v1/messages).
func testAnthropic(t *testing.T, r *rig) {
	t.Run("messages to openai", func(t *testing.T) {
		r.openai.Reset()
		resp, body := r.gw["llm_gateway"].post(t, "/v1/messages",
			`{"model":"claude-sonnet-4-5","max_tokens":100,"system":"be brief","messages":[{"role":"user","content":"Hi Claude"}]}`)
		if resp.StatusCode != 200 || gjson.Get(body, "type").String() != "message" ||
			gjson.Get(body, "content.0.text").String() != "You said: Hi Claude" || gjson.Get(body, "stop_reason").String() != "end_turn" {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
		if gjson.Get(body, "usage.input_tokens").Int() == 0 || gjson.Get(body, "usage.output_tokens").Int() == 0 {
			t.Errorf("usage %s", gjson.Get(body, "usage"))
		}
		up := onlyRequest(t, r.openai)
		if up.Path != "/v1/chat/completions" || up.Get("model").String() != "gpt-4o-mini" ||
			up.Get("messages.0.role").String() != "system" {
			t.Errorf("upstream got %s %s", up.Path, up.Body)
		}
		checkAuth(t, up.Header)
	})

	t.Run("messages stream to openai", func(t *testing.T) {
		r.openai.Reset()
		resp, body := r.gw["llm_gateway"].post(t, "/v1/messages",
			`{"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"Stream Claude"}]}`)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("got %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		events := sseEvents(body)
		if len(events) < 4 || events[0] != "message_start" || events[len(events)-1] != "message_stop" {
			t.Fatalf("events %q", events)
		}
		var text strings.Builder
		for _, d := range sseData(body) {
			text.WriteString(gjson.Get(d, "delta.text").String())
		}
		if text.String() != "You said: Stream Claude" {
			t.Errorf("streamed text %q", text.String())
		}
		up := onlyRequest(t, r.openai)
		if !up.Get("stream").Bool() {
			t.Errorf("upstream request is not streaming: %s", up.Body)
		}
	})

	t.Run("openai to native anthropic", func(t *testing.T) {
		r.anthropic.Reset()
		resp, body := r.gw["anthropic"].post(t, "/v1/chat/completions",
			`{"model":"gpt-4o","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"to claude"}]}`)
		if resp.StatusCode != 200 || gjson.Get(body, "object").String() != "chat.completion" ||
			gjson.Get(body, "choices.0.message.content").String() != "You said: to claude" {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
		if gjson.Get(body, "usage.completion_tokens").Int() == 0 {
			t.Errorf("usage %s", gjson.Get(body, "usage"))
		}
		up := onlyRequest(t, r.anthropic)
		if up.Path != "/v1/messages" || up.Host != r.lab.Authority("api.anthropic.com") || up.Get("model").String() != "claude-sonnet-4-5" ||
			up.Get("system").String() == "" || up.Get("max_tokens").Int() == 0 {
			t.Errorf("upstream got %s host %s %s", up.Path, up.Host, up.Body)
		}
		checkAnthropicAuth(t, up.Header)
	})

	t.Run("openai stream to native anthropic", func(t *testing.T) {
		r.anthropic.Reset()
		resp, body := r.gw["anthropic"].post(t, "/v1/chat/completions",
			`{"messages":[{"role":"user","content":"stream to claude"}],"stream":true}`)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("got %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		events := sseData(body)
		var text strings.Builder
		for _, d := range events {
			text.WriteString(gjson.Get(d, "choices.0.delta.content").String())
		}
		if text.String() != "You said: stream to claude" || events[len(events)-1] != "[DONE]" {
			t.Errorf("stream text %q, events %q", text.String(), events)
		}
		up := onlyRequest(t, r.anthropic)
		if up.Path != "/v1/messages" || !up.Get("stream").Bool() {
			t.Errorf("upstream got %s %s", up.Path, up.Body)
		}
		checkAnthropicAuth(t, up.Header)
	})
}

// checkAnthropicAuth: the upstream got the operator's x-api-key and the
// anthropic-version the filter adds, and none of the client's credentials.
func checkAnthropicAuth(t *testing.T, h map[string][]string) {
	t.Helper()
	if got := first(h, "X-Api-Key"); got != anthropicKey {
		t.Errorf("upstream x-api-key = %q, want the operator's", got)
	}
	if first(h, "Anthropic-Version") == "" {
		t.Errorf("upstream got no anthropic-version")
	}
	for name, vs := range h {
		for _, v := range vs {
			if strings.Contains(v, clientSecret) {
				t.Errorf("the client's credential reached the upstream in %s: %q", name, v)
			}
		}
	}
}

func first(h map[string][]string, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}
