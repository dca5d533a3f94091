package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

// send makes one request to the gateway and returns its status, headers
// and body.
func send(t *testing.T, method, url, body string) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("content-type", "application/json")
	req.Header.Set("authorization", "Bearer client-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// The same method policy under every host: AI routes take POST, model
// listings GET (with the operator's credentials), anything else is a 405
// with Allow in the client's error format, and nothing reaches the
// provider.
func TestMethodPolicyE2E(t *testing.T) {
	const chat = `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	const messages = `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`
	refused := []struct {
		method, path, body string
		allow              string
	}{
		{"GET", "/v1/chat/completions", "", "POST"},
		{"DELETE", "/v1/chat/completions", "", "POST"},
		{"PUT", "/v1/chat/completions", chat, "POST"},
		{"GET", "/v1/messages", "", "POST"},
		{"DELETE", "/v1/messages", "", "POST"},
		{"PUT", "/v1/messages", messages, "POST"},
		{"OPTIONS", "/v1/chat/completions", "", "POST"},
		{"POST", "/v1/models", "{}", "GET"},
	}
	for _, profile := range profiles {
		t.Run(profile.String(), func(t *testing.T) {
			m := mock.NewOpenAI(mock.WithAPIKey("operator-key"))
			defer m.Close()
			base, _ := startGateway(t, profile, oneRoute("/v1/*", "provider: openai\nauth:\n  header:\n    Authorization: Bearer operator-key\n",
				map[string]string{"api.openai.com": m.URL}))
			for _, tc := range refused {
				status, h, body := send(t, tc.method, base+tc.path, tc.body)
				if status != 405 || h.Get("Allow") != tc.allow {
					t.Errorf("%s %s: %d Allow %q %s, want 405 Allow %q", tc.method, tc.path, status, h.Get("Allow"), body, tc.allow)
				}
				e := gjson.ParseBytes(body)
				if strings.HasSuffix(tc.path, "/messages") {
					if e.Get("type").Str != "error" || e.Get("error.type").Str != "invalid_request_error" {
						t.Errorf("%s %s: not an Anthropic error: %s", tc.method, tc.path, body)
					}
				} else if e.Get("error.type").Str != "invalid_request_error" {
					t.Errorf("%s %s: not an OpenAI error: %s", tc.method, tc.path, body)
				}
			}
			if n := m.Count(); n != 0 {
				t.Fatalf("%d refused requests reached the provider, the last %s %s", n, m.Last().Method, m.Last().Path)
			}

			for _, path := range []string{"/v1/models", "/v1/models/gpt-4o"} {
				status, _, body := send(t, "GET", base+path, "")
				if status != 200 || !strings.Contains(string(body), `"object":"`) {
					t.Fatalf("GET %s: %d %s", path, status, body)
				}
				if up := m.Last(); up.Method != "GET" || up.Path != path || up.Header.Get("Authorization") != "Bearer operator-key" {
					t.Fatalf("GET %s reached the provider as %s %s %v", path, up.Method, up.Path, up.Header)
				}
			}
		})
	}
}

// Requests the provider would refuse are refused before anything is sent,
// in the client's error format: empty or mistyped messages and input, a
// missing max_tokens on /v1/messages, and malformed tools that the
// Anthropic-to-OpenAI conversion used to drop.
func TestInvalidRequestsNeverReachTheProvider(t *testing.T) {
	const user = `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name, path, body, want string
	}{
		{"anthropic empty messages", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[]}`, `"messages" must not be empty`},
		{"anthropic no max_tokens", "/v1/messages", `{"model":"m",` + user + `}`, `"max_tokens" is required`},
		{"anthropic messages string", "/v1/messages", `{"model":"m","max_tokens":5,"messages":"hi"}`, `"messages" must be an array`},
		{"anthropic tools string", "/v1/messages", `{"model":"m","max_tokens":5,` + user + `,"tools":"search"}`, "tools must be an array of tool objects, got a string"},
		{"anthropic tools object", "/v1/messages", `{"model":"m","max_tokens":5,` + user + `,"tools":{"name":"search"}}`, "tools must be an array of tool objects, got an object"},
		{"anthropic tools items", "/v1/messages", `{"model":"m","max_tokens":5,` + user + `,"tools":[1,"x",null]}`, "tools[0] must be a tool object, got a number"},
		{"anthropic system number", "/v1/messages", `{"model":"m","max_tokens":5,` + user + `,"system":1}`, "system must be a string or an array of text blocks"},
		{"chat empty messages", "/v1/chat/completions", `{"model":"m","messages":[]}`, `"messages" must not be empty`},
		{"embeddings empty input", "/v1/embeddings", `{"model":"m","input":""}`, `"input" must not be empty`},
		{"embeddings empty array", "/v1/embeddings", `{"model":"m","input":[]}`, `"input" must not be empty`},
		{"embeddings input object", "/v1/embeddings", `{"model":"m","input":{}}`, `"input" must be a string or an array`},
	}
	for _, profile := range profiles {
		t.Run(profile.String(), func(t *testing.T) {
			m := mock.NewOpenAI(mock.WithAPIKey("operator-key"))
			defer m.Close()
			base, _ := startGateway(t, profile, oneRoute("/v1/*", "provider: openai\nauth:\n  header:\n    Authorization: Bearer operator-key\n",
				map[string]string{"api.openai.com": m.URL}))
			for _, tc := range tests {
				status, _, body := send(t, "POST", base+tc.path, tc.body)
				e := gjson.ParseBytes(body)
				if status != 400 || e.Get("error.type").Str != "invalid_request_error" || !strings.Contains(e.Get("error.message").Str, tc.want) {
					t.Errorf("%s: %d %s, want 400 invalid_request_error containing %q", tc.name, status, body, tc.want)
				}
				if strings.HasSuffix(tc.path, "/messages") && e.Get("type").Str != "error" {
					t.Errorf("%s: not an Anthropic error: %s", tc.name, body)
				}
			}
			if n := m.Count(); n != 0 {
				t.Fatalf("%d invalid requests reached the provider, the last %s", n, m.Last().Body)
			}
			// A valid request on the same gateway still goes through.
			if status, _, body := send(t, "POST", base+"/v1/messages", `{"model":"m","max_tokens":5,`+user+`,"tools":[{"name":"f","input_schema":{"type":"object"}}]}`); status != 200 {
				t.Fatalf("valid request: %d %s", status, body)
			}
		})
	}
}
