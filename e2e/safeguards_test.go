package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

// A runaway stream is ended cleanly: an error event, then [DONE], and
// nothing after it reaches the client.
func TestMaxResponseBytesEndsStream(t *testing.T) {
	for _, profile := range []host.Profile{host.Envoy, host.EnvoyFixed} {
		t.Run(profile.String(), func(t *testing.T) {
			m := mock.NewOpenAI(mock.WithStreamChunks(40))
			defer m.Close()
			conf := `{"provider":"openai","auth":{"header":{"Authorization":"Bearer k"}},"max_response_bytes":2000,"options":{"model":"m"}}`
			r := newRig(t, profile, conf, map[string]string{"api.openai.com": m.URL})
			resp := r.do(t, "/v1/chat/completions", `{"stream":true,"messages":[{"role":"user","content":"`+strings.Repeat("word ", 60)+`"}]}`)
			body := string(resp.Body)
			if !strings.Contains(body, "max_response_bytes") || !strings.HasSuffix(body, "data: [DONE]\n\n") || len(body) > 2000+300 {
				t.Fatalf("%d bytes:\n%s", len(body), body)
			}
			if strings.Count(body, "[DONE]") != 1 {
				t.Fatalf("more than one [DONE]:\n%s", body)
			}
		})
	}
}

// timeout bounds a callout: the client gets a JSON error, not a hang.
// wasm-nginx-module reports a timed-out callout like any transport failure;
// the filter tells them apart by the time it took.
func TestTimeoutInCalloutMode(t *testing.T) {
	m := mock.NewOpenAI(mock.WithDelay(3 * time.Second))
	defer m.Close()
	conf := `{"provider":"openai","auth":{"header":{"Authorization":"Bearer k"}},"timeout":300}`
	r := newRig(t, host.APISIX, conf, map[string]string{"api.openai.com": m.URL})
	start := time.Now()
	resp := r.do(t, "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("took %v with timeout 300 ms", took)
	}
	if resp.Status != 504 || !strings.Contains(gjson.GetBytes(resp.Body, "error.message").Str, "300 ms") {
		t.Fatalf("%d %s", resp.Status, resp.Body)
	}
}

func TestTimeoutInEnvoyCallout(t *testing.T) {
	mk := mock.NewBedrock(mock.WithSigV4(testAWS), mock.WithDelay(3*time.Second))
	defer mk.Close()
	r := newRig(t, host.Envoy, bedrockConf(false, `,"timeout":300,"options":{"model":"m"}`), map[string]string{bedrockHost: mk.URL})
	start := time.Now()
	resp := r.do(t, "/x/converse", `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("took %v with timeout 300 ms", took)
	}
	if resp.Status != 504 || !strings.Contains(gjson.GetBytes(resp.Body, "error.message").Str, "300 ms") {
		t.Fatalf("%d %s", resp.Status, resp.Body)
	}
}

// In inline mode the filter's idle watchdog enforces timeout, so Envoy's
// router, whose timeout is total, gets none (0) for AI requests, or
// max_stream_duration_ms plus timeout; a bodiless pass-through request
// keeps timeout as its total bound. The router consumes the header, as
// Envoy's does: the upstream sees x-envoy-expected-rq-timeout-ms instead,
// when the timeout is set.
func TestTimeoutHeaderInline(t *testing.T) {
	tests := []struct {
		name, conf, method, path, body, want string
	}{
		{"AI request", `"timeout":1234`, "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`, "0"},
		{"with max_stream_duration_ms", `"timeout":1234,"max_stream_duration_ms":60000`, "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`, "61234"},
		{"pass-through GET", `"timeout":1234`, "GET", "/v1/models", "", "1234"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := mock.NewOpenAI()
			defer m.Close()
			r := newRig(t, host.Envoy, `{"provider":"openai","auth":{"header":{"Authorization":"Bearer k"}},`+tc.conf+`}`, map[string]string{"api.openai.com": m.URL})
			req := &host.Request{Method: tc.method, Path: tc.path, Body: []byte(tc.body)}
			resp, err := r.p.Do(context.Background(), req, host.Options{Upstream: host.HTTPUpstream(nil, r.resolve)})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Upstream == nil {
				t.Fatalf("nothing went upstream: %d %s", resp.Status, resp.Body)
			}
			// resp.Upstream is what the filter handed the router.
			if v, _ := resp.Upstream.Get("x-envoy-upstream-rq-timeout-ms"); v != tc.want {
				t.Fatalf("x-envoy-upstream-rq-timeout-ms %q, want %q", v, tc.want)
			}
			seen := m.Last().Header
			if v, ok := seen["X-Envoy-Upstream-Rq-Timeout-Ms"]; ok {
				t.Errorf("the router forwarded x-envoy-upstream-rq-timeout-ms %q", v)
			}
			want := tc.want
			if want == "0" {
				want = "" // no timeout: no expected-timeout header
			}
			if v := seen.Get("x-envoy-expected-rq-timeout-ms"); v != want {
				t.Errorf("upstream x-envoy-expected-rq-timeout-ms %q, want %q", v, want)
			}
		})
	}
}
