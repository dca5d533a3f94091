package e2e

import (
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
	// wasm-nginx-module reports a timed-out callout like any transport
	// failure, so the filter cannot tell it from a reset: 502.
	if resp.Status != 502 || gjson.GetBytes(resp.Body, "error.message").Str == "" {
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

// In inline mode the router enforces timeout: the filter sets Envoy's
// per-request timeout header, which the router strips before forwarding.
func TestTimeoutHeaderInline(t *testing.T) {
	m := mock.NewOpenAI()
	defer m.Close()
	r := newRig(t, host.Envoy, `{"provider":"openai","auth":{"header":{"Authorization":"Bearer k"}},"timeout":1234}`, map[string]string{"api.openai.com": m.URL})
	resp := r.do(t, "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`)
	if v, _ := resp.Upstream.Get("x-envoy-upstream-rq-timeout-ms"); v != "1234" {
		t.Fatalf("upstream request headers %v", resp.Upstream.Header)
	}
}
