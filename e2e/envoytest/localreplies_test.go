package envoytest

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// testLocalReplies: bad input is answered by the filter in Envoy, in the
// client's error format, and nothing reaches the provider.
func testLocalReplies(t *testing.T, r *rig) {
	g := r.gw["llm_gateway"]
	for _, tc := range []struct {
		name, listener, method, path, body string
		status                             int
		allow                              string
		anthropic                          bool // Anthropic error object instead of OpenAI's
	}{
		{name: "invalid JSON", method: "POST", path: "/v1/chat/completions", body: `{"messages":[`, status: 400},
		{name: "no messages", method: "POST", path: "/v1/chat/completions", body: `{"model":"x"}`, status: 400},
		{name: "invalid JSON from an Anthropic client", method: "POST", path: "/v1/messages", body: `{"messages":`, status: 400, anthropic: true},
		{name: "GET on chat", method: "GET", path: "/v1/chat/completions", status: 405, allow: "POST"},
		{name: "DELETE on messages", method: "DELETE", path: "/v1/messages", status: 405, allow: "POST", anthropic: true},
		{name: "body over max_req_body_size", listener: "limits", method: "POST", path: "/v1/chat/completions",
			body: `{"messages":[{"role":"user","content":"` + strings.Repeat("x", 2000) + `"}]}`, status: 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := g
			if tc.listener != "" {
				gw = r.gw[tc.listener]
			}
			r.openai.Reset()
			req, _ := http.NewRequest(tc.method, gw.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+clientSecret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("got %d %s, want %d", resp.StatusCode, body, tc.status)
			}
			if got := resp.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
			if tc.anthropic {
				if gjson.Get(body, "type").String() != "error" || gjson.Get(body, "error.message").String() == "" {
					t.Errorf("not an Anthropic error object: %s", body)
				}
			} else if gjson.Get(body, "error.message").String() == "" || gjson.Get(body, "error.type").String() == "" {
				t.Errorf("not an OpenAI error object: %s", body)
			}
			if n := r.openai.Count(); n != 0 {
				t.Errorf("%d requests reached the provider", n)
			}
		})
	}
}

// testUpstreamErrors: a provider's 4xx/5xx reaches the client with its
// status and the provider's error; on converting routes the error is
// rewritten into the client's protocol.
func testUpstreamErrors(t *testing.T, r *rig) {
	for _, tc := range []struct {
		name, listener, path, body string
		status                     int
		check                      func(body string) bool
	}{
		{"openai 429 passes through", "llm_gateway", "/v1/chat/completions",
			`{"messages":[{"role":"user","content":"lab-status-429"}]}`, 429,
			func(b string) bool {
				return gjson.Get(b, "error.message").String() == "Too Many Requests" && gjson.Get(b, "error.type").String() != ""
			}},
		{"openai 503 passes through", "llm_gateway", "/v1/chat/completions",
			`{"messages":[{"role":"user","content":"lab-status-503"}],"stream":true}`, 503,
			func(b string) bool { return gjson.Get(b, "error.message").String() == "Service Unavailable" }},
		{"openai 400 to an Anthropic client", "llm_gateway", "/v1/messages",
			`{"model":"c","max_tokens":10,"messages":[{"role":"user","content":"lab-status-400"}]}`, 400,
			func(b string) bool {
				return gjson.Get(b, "type").String() == "error" && gjson.Get(b, "error.type").String() == "invalid_request_error" &&
					gjson.Get(b, "error.message").String() == "Bad Request"
			}},
		{"openai 500 to an Anthropic stream client", "llm_gateway", "/v1/messages",
			`{"model":"c","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"lab-status-500"}]}`, 500,
			func(b string) bool {
				return gjson.Get(b, "type").String() == "error" && gjson.Get(b, "error.type").String() == "api_error"
			}},
		{"anthropic 529 to an OpenAI client", "anthropic", "/v1/chat/completions",
			`{"messages":[{"role":"user","content":"lab-status-529"}]}`, 529,
			func(b string) bool {
				return gjson.Get(b, "error.message").String() != "" && !gjson.Get(b, "type").Exists()
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := r.gw[tc.listener].post(t, tc.path, tc.body)
			if resp.StatusCode != tc.status || !tc.check(body) {
				t.Errorf("got %d %s %s, want %d", resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
