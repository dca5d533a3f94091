package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

// fallbackRoute is multiRoute with the two instances' clusters at the
// given URLs (a closed port plays a refused connection) and a fallback
// configuration.
func fallbackRoute(aURL, bURL, extra string) string {
	return strings.Replace(strings.Replace(multiRoute(&mock.Server{URL: "A"}, &mock.Server{URL: "B"}, extra),
		"a.test: A", "a.test: "+aURL, 1), "b.test: B", "b.test: "+bURL, 1)
}

// refusedURL is an address nothing listens on.
const refusedURL = "http://127.0.0.1:1"

const fallbackConf = "fallback_strategy: [http_429, http_5xx]\ntimeout: 1500"

// fallbackProfiles: Envoy with and without allow_on_headers_stop_iteration
// (which changes how a held response's body reaches the filter), and
// APISIX, where every attempt is a callout.
var fallbackProfiles = []host.Profile{host.Envoy, host.EnvoyFixed, host.APISIX}

// Every fallback rule, on every host that runs ai-proxy-multi: "a" (weight
// 8, picked first) fails the way the case says and "b" answers; the
// client gets b's answer, built with b's own key and options.
func TestFallbackRules(t *testing.T) {
	rateLimited := `{"error":{"message":"a is rate limited","type":"rate_limit_error"}}`
	tests := []struct {
		name   string
		a      []mock.Option // nil: refused
		extra  string
		status int
		want   string
		bCalls int
	}{
		{"429 with Retry-After", []mock.Option{mock.WithStatus(429, rateLimited), mock.WithHeader("retry-after", "7")}, fallbackConf, 200, "model-b", 1},
		{"500", []mock.Option{mock.WithStatus(500, "")}, fallbackConf, 200, "model-b", 1},
		{"503", []mock.Option{mock.WithStatus(503, "")}, fallbackConf, 200, "model-b", 1},
		{"connection refused", nil, fallbackConf, 200, "model-b", 1},
		{"silent past timeout", []mock.Option{mock.WithDelay(4 * time.Second)}, fallbackConf, 200, "model-b", 1},
		{"401 is returned at once", []mock.Option{mock.WithStatus(401, "")}, fallbackConf, 401, "", 0},
		{"401 listed in fallback_http_statuses", []mock.Option{mock.WithStatus(401, "")}, "fallback_http_statuses: [401]", 200, "model-b", 1},
		{"max_retries 0", []mock.Option{mock.WithStatus(429, rateLimited)}, fallbackConf + "\nmax_retries: 0", 429, "a is rate limited", 0},
		{"no fallback_strategy", []mock.Option{mock.WithStatus(500, "")}, "", 500, "", 0},
	}
	for _, profile := range fallbackProfiles {
		for _, tt := range tests {
			t.Run(profile.String()+"/"+tt.name, func(t *testing.T) {
				aURL := refusedURL
				if tt.a != nil {
					a := mock.NewOpenAI(append([]mock.Option{mock.WithAPIKey("key-a")}, tt.a...)...)
					defer a.Close()
					aURL = a.URL
				}
				b := mock.NewOpenAI(mock.WithAPIKey("key-b"))
				defer b.Close()
				base, _ := startGatewayWorkers(t, profile, fallbackRoute(aURL, b.URL, tt.extra), 1)
				status, body := chat(t, base, `{"model":"client","messages":[{"role":"user","content":"hi"}]}`)
				if status != tt.status || !strings.Contains(body, tt.want) {
					t.Fatalf("client got %d %s; want %d with %q", status, body, tt.status, tt.want)
				}
				if b.Count() != tt.bCalls {
					t.Fatalf("b got %d requests, want %d", b.Count(), tt.bCalls)
				}
				if tt.bCalls > 0 {
					r := b.Last()
					if r.Get("model").Str != "model-b" || r.Get("temperature").Num != 0.5 {
						t.Errorf("b saw %s", r.Body)
					}
					if got := r.Header.Get("Authorization"); got != "Bearer key-b" {
						t.Errorf("b saw Authorization %q", got)
					}
				}
			})
		}
	}
}

// Both instances fail: the client gets the last upstream's real status
// and body; when no instance could be reached, a 502.
func TestFallbackExhausted(t *testing.T) {
	for _, profile := range fallbackProfiles {
		t.Run(profile.String(), func(t *testing.T) {
			a := mock.NewOpenAI(mock.WithStatus(429, `{"error":{"message":"a is rate limited","type":"rate_limit_error"}}`))
			b := mock.NewOpenAI(mock.WithStatus(503, `{"error":{"message":"b is overloaded","type":"server_error"}}`))
			defer a.Close()
			defer b.Close()
			base, _ := startGatewayWorkers(t, profile, fallbackRoute(a.URL, b.URL, fallbackConf), 1)
			if status, body := chat(t, base, `{"messages":[{"role":"user","content":"hi"}]}`); status != 503 || !strings.Contains(body, "b is overloaded") {
				t.Fatalf("client got %d %s", status, body)
			}
			// The last answer with a status is the first attempt's, held
			// while the retry ran: its body too, though without
			// allow_on_headers_stop_iteration Envoy keeps it from the
			// filter while the headers are held (StopAllIterationAndWatermark).
			base, _ = startGatewayWorkers(t, profile, fallbackRoute(a.URL, refusedURL, fallbackConf), 1)
			if status, body := chat(t, base, `{"messages":[{"role":"user","content":"hi"}]}`); status != 429 || !strings.Contains(body, "a is rate limited") {
				t.Fatalf("a 429 then b refused: client got %d %s", status, body)
			}
			base, _ = startGatewayWorkers(t, profile, fallbackRoute(refusedURL, refusedURL, fallbackConf), 1)
			if status, body := chat(t, base, `{"messages":[{"role":"user","content":"hi"}]}`); status != 502 || !strings.Contains(body, "2 attempts failed") {
				t.Fatalf("client got %d %s", status, body)
			}
		})
	}
}

// A stream whose first instance fails reaches the client from the second,
// complete, in one piece.
func TestFallbackStream(t *testing.T) {
	for _, profile := range fallbackProfiles {
		t.Run(profile.String(), func(t *testing.T) {
			a := mock.NewOpenAI(mock.WithStatus(500, ""))
			b := mock.NewOpenAI(mock.WithAPIKey("key-b"))
			defer a.Close()
			defer b.Close()
			base, _ := startGatewayWorkers(t, profile, fallbackRoute(a.URL, b.URL, fallbackConf), 1)
			status, body := chat(t, base, `{"messages":[{"role":"user","content":"stream me"}],"stream":true}`)
			if status != 200 || !strings.Contains(body, "data: ") || !strings.Contains(body, "[DONE]") {
				t.Fatalf("%d %s", status, body)
			}
			if a.Count() != 1 || b.Count() != 1 {
				t.Fatalf("a %d b %d", a.Count(), b.Count())
			}
		})
	}
}
