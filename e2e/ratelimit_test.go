package e2e

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

// budgetWindow is long enough that no test crosses a window's end (windows
// are aligned on multiples of it since the epoch).
const budgetWindow = "100000000"

// budgetRoute is a gateway config with one ai-proxy-multi route over the
// mocks a (priority 1: picked while it may be) and b (priority 0), with
// the ai-proxy-multi fields multiExtra and the ai-rate-limiting object rl
// (YAML flow style).
func budgetRoute(a, b *mock.Server, multiExtra, rl string) string {
	return `routes:
  - id: budget
    uri: /v1/chat/completions
    plugins:
      ai-rate-limiting: ` + rl + `
      ai-proxy-multi:
        instances:
          - name: a
            provider: openai-compatible
            weight: 1
            priority: 1
            auth: {header: {Authorization: Bearer key-a}}
            options: {model: model-a}
            override: {endpoint: "http://a.test/v1/chat/completions"}
          - name: b
            provider: openai-compatible
            weight: 1
            auth: {header: {Authorization: Bearer key-b}}
            options: {model: model-b}
            override: {endpoint: "http://b.test/v1/chat/completions"}
` + indent(multiExtra, 8) + `
clusters:
  a.test: ` + a.URL + `
  b.test: ` + b.URL + "\n"
}

// plainBudgetRoute is one ai-proxy route to the mock m with the
// ai-rate-limiting object rl.
func plainBudgetRoute(m *mock.Server, rl string) string {
	return `routes:
  - id: budget
    uri: /v1/*
    plugins:
      ai-rate-limiting: ` + rl + `
      ai-proxy:
        provider: openai-compatible
        auth: {header: {Authorization: Bearer key-a}}
        options: {model: model-a}
        override: {endpoint: "http://a.test/v1/chat/completions"}
clusters:
  a.test: ` + m.URL + "\n"
}

type budgetReply struct {
	status int
	header http.Header
	body   string
}

func chatReply(t *testing.T, base, body string, header ...string) budgetReply {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("content-type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return budgetReply{resp.StatusCode, resp.Header, string(out)}
}

const hello = `{"messages":[{"role":"user","content":"hi"}]}`

// budgetWorkers is how many VMs share a budget under profile: two Envoy
// workers share it through shared data; APISIX has none, so its test
// uses one worker, whose budget is its own.
func budgetWorkers(profile host.Profile) int {
	if profile == host.APISIX {
		return 1
	}
	return 2
}

func wantQuota(t *testing.T, what string, r budgetReply, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q (status %d, headers %v)", what, k, got, v, r.status, r.header)
		}
	}
}

// Without a fallback on rate limiting, a used-up budget rejects with
// rejected_code and rejected_msg in the client's protocol, whichever
// worker serves the next request; with one, the instance is skipped for
// the next, and when every budget is used up the answer is 503.
func TestBudgetRejectionVersusFallback(t *testing.T) {
	const rl = `{instances: [{name: a, limit: 1, time_window: ` + budgetWindow + `}, {name: b, limit: 1, time_window: ` + budgetWindow + `}], rejected_code: 429, rejected_msg: "token quota exceeded"}`
	for _, profile := range multiProfiles {
		t.Run(profile.String()+"/reject", func(t *testing.T) {
			a, b := mock.NewOpenAI(mock.WithAPIKey("key-a")), mock.NewOpenAI(mock.WithAPIKey("key-b"))
			defer a.Close()
			defer b.Close()
			base, _ := startGatewayWorkers(t, profile, budgetRoute(a, b, "", rl), budgetWorkers(profile))
			r := chatReply(t, base, hello)
			if r.status != 200 {
				t.Fatalf("first: %d %s", r.status, r.body)
			}
			wantQuota(t, "first", r, map[string]string{"X-AI-RateLimit-Limit-a": "1", "X-AI-RateLimit-Remaining-a": "1"})
			r = chatReply(t, base, hello)
			if r.status != 429 || !strings.Contains(r.body, `"message":"token quota exceeded"`) || a.Count() != 1 || b.Count() != 0 {
				t.Fatalf("second: %d %s (a %d, b %d), want 429 token quota exceeded", r.status, r.body, a.Count(), b.Count())
			}
			wantQuota(t, "rejected", r, map[string]string{"X-AI-RateLimit-Remaining-a": "0"})
		})
		t.Run(profile.String()+"/fallback", func(t *testing.T) {
			a, b := mock.NewOpenAI(mock.WithAPIKey("key-a")), mock.NewOpenAI(mock.WithAPIKey("key-b"))
			defer a.Close()
			defer b.Close()
			base, _ := startGatewayWorkers(t, profile, budgetRoute(a, b, "fallback_strategy: [rate_limiting]", rl), budgetWorkers(profile))
			if r := chatReply(t, base, hello); r.status != 200 || a.Count() != 1 {
				t.Fatalf("first: %d %s", r.status, r.body)
			}
			r := chatReply(t, base, hello)
			if r.status != 200 || b.Count() != 1 {
				t.Fatalf("second: %d %s (b %d), want b", r.status, r.body, b.Count())
			}
			wantQuota(t, "fallback", r, map[string]string{"X-AI-RateLimit-Remaining-a": "0", "X-AI-RateLimit-Remaining-b": "1"})
			r = chatReply(t, base, hello)
			if r.status != 503 || !strings.Contains(r.body, "no instance of ai-proxy-multi is available") || a.Count()+b.Count() != 2 {
				t.Fatalf("third: %d %s, want 503", r.status, r.body)
			}
		})
	}
}

// Tokens are counted from the usage the answer reported, a stream's too,
// and the budget left shows in the next answer's headers.
func TestBudgetCountsUsage(t *testing.T) {
	for _, profile := range multiProfiles {
		t.Run(profile.String(), func(t *testing.T) {
			m := mock.NewOpenAI(mock.WithAPIKey("key-a"))
			defer m.Close()
			base, _ := startGatewayWorkers(t, profile, plainBudgetRoute(m, `{limit: 1000, time_window: `+budgetWindow+`}`), budgetWorkers(profile))
			const name = "ai-proxy-openai-compatible"
			r := chatReply(t, base, hello)
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			used := totalTokens(t, r.body)
			wantQuota(t, "first", r, map[string]string{"X-AI-RateLimit-Limit-" + name: "1000", "X-AI-RateLimit-Remaining-" + name: "1000"})
			r = chatReply(t, base, `{"messages":[{"role":"user","content":"stream me"}],"stream":true,"stream_options":{"include_usage":true}}`)
			if r.status != 200 || !strings.Contains(r.body, "[DONE]") {
				t.Fatalf("stream: %d %s", r.status, r.body)
			}
			wantQuota(t, "stream", r, map[string]string{"X-AI-RateLimit-Remaining-" + name: strconv.Itoa(1000 - used)})
			streamed := 0
			for _, line := range strings.Split(r.body, "\n") {
				if strings.Contains(line, `"total_tokens"`) {
					streamed = totalTokens(t, strings.TrimPrefix(line, "data: "))
				}
			}
			if streamed == 0 {
				t.Fatalf("the stream reported no usage: %s", r.body)
			}
			r = chatReply(t, base, hello)
			wantQuota(t, "after the stream", r, map[string]string{"X-AI-RateLimit-Remaining-" + name: strconv.Itoa(1000 - used - streamed)})
		})
	}
}

func totalTokens(t *testing.T, body string) int {
	t.Helper()
	_, rest, ok := strings.Cut(body, `"total_tokens":`)
	if !ok {
		t.Fatalf("no total_tokens in %s", body)
	}
	end := strings.IndexAny(rest, ",}")
	n, err := strconv.Atoi(strings.TrimSpace(rest[:end]))
	if err != nil {
		t.Fatalf("total_tokens in %s: %v", body, err)
	}
	return n
}

// Budgets per consumer: one consumer's used-up budget leaves another's.
func TestBudgetPerConsumer(t *testing.T) {
	for _, profile := range multiProfiles {
		t.Run(profile.String(), func(t *testing.T) {
			m := mock.NewOpenAI(mock.WithAPIKey("key-a"))
			defer m.Close()
			base, _ := startGatewayWorkers(t, profile, plainBudgetRoute(m, `{limit: 1, time_window: `+budgetWindow+`, per_consumer: true}`), budgetWorkers(profile))
			if r := chatReply(t, base, hello, "x-consumer", "ann"); r.status != 200 {
				t.Fatalf("ann: %d %s", r.status, r.body)
			}
			if r := chatReply(t, base, hello, "x-consumer", "ann"); r.status != 503 {
				t.Fatalf("ann again: %d %s, want 503", r.status, r.body)
			}
			if r := chatReply(t, base, hello, "x-consumer", "bob"); r.status != 200 {
				t.Fatalf("bob: %d %s", r.status, r.body)
			}
		})
	}
}

// Rules: a budget per key, with the headers X-AI-<header_prefix or
// index>-RateLimit-*; a request no rule applies to gets 500.
func TestBudgetRules(t *testing.T) {
	for _, profile := range multiProfiles {
		t.Run(profile.String(), func(t *testing.T) {
			a, b := mock.NewOpenAI(mock.WithAPIKey("key-a")), mock.NewOpenAI(mock.WithAPIKey("key-b"))
			defer a.Close()
			defer b.Close()
			rl := `{rules: [{count: 1, time_window: ` + budgetWindow + `, key: "$http_x_user", header_prefix: User}, {count: 1000, time_window: ` + budgetWindow + `, key: "$http_x_team"}]}`
			base, _ := startGatewayWorkers(t, profile, budgetRoute(a, b, "", rl), budgetWorkers(profile))
			r := chatReply(t, base, hello, "x-user", "ann", "x-team", "red")
			if r.status != 200 {
				t.Fatalf("ann: %d %s", r.status, r.body)
			}
			wantQuota(t, "ann", r, map[string]string{"X-AI-User-RateLimit-Limit": "1", "X-AI-User-RateLimit-Remaining": "1", "X-AI-2-RateLimit-Limit": "1000"})
			r = chatReply(t, base, hello, "x-user", "ann", "x-team", "red")
			if r.status != 503 {
				t.Fatalf("ann again: %d %s, want 503", r.status, r.body)
			}
			wantQuota(t, "ann rejected", r, map[string]string{"X-AI-User-RateLimit-Remaining": "0"})
			if r := chatReply(t, base, hello, "x-team", "red"); r.status != 200 {
				t.Fatalf("team only: %d %s", r.status, r.body)
			}
			if r := chatReply(t, base, hello); r.status != 500 || !strings.Contains(r.body, "no rule") {
				t.Fatalf("no rule applies: %d %s, want 500", r.status, r.body)
			}
		})
	}
}

// An Anthropic client's stream, converted from the OpenAI provider's, is
// counted from the usage it reported, and the request after it is refused
// with an Anthropic error.
func TestBudgetConvertedStream(t *testing.T) {
	for _, profile := range multiProfiles {
		t.Run(profile.String(), func(t *testing.T) {
			m := mock.NewOpenAI(mock.WithAPIKey("key-a"))
			defer m.Close()
			base, _ := startGatewayWorkers(t, profile, plainBudgetRoute(m, `{limit: 1, time_window: `+budgetWindow+`, rejected_code: 429}`), budgetWorkers(profile))
			messages := func(stream bool) budgetReply {
				body := `{"model":"claude","max_tokens":100,"stream":` + strconv.FormatBool(stream) + `,"messages":[{"role":"user","content":"hi"}]}`
				resp, err := http.Post(base+"/v1/messages", "application/json", strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				out, _ := io.ReadAll(resp.Body)
				return budgetReply{resp.StatusCode, resp.Header, string(out)}
			}
			r := messages(true)
			if r.status != 200 || !strings.Contains(r.body, "event: message_stop") {
				t.Fatalf("stream: %d %s", r.status, r.body)
			}
			r = messages(false)
			if r.status != 429 || !strings.Contains(r.body, `"type":"error"`) || !strings.Contains(r.body, "is used up") {
				t.Fatalf("after the stream: %d %s, want 429 as an Anthropic error", r.status, r.body)
			}
		})
	}
}
