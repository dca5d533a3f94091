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

// A client that disconnects is logged as operators know it from nginx and
// Envoy: 499 when it left before any response status, and client_closed with
// the tokens counted so far when it left in the middle of a stream.
func TestClientDisconnectIsLogged(t *testing.T) {
	const conf = `{"provider":"anthropic","auth":{"header":{"x-api-key":"k"}},"options":{"model":"claude-sonnet-4-5"},"logging":{"summaries":true}}`
	const body = `{"model":"claude-sonnet-4-5","max_tokens":500,"stream":true,"messages":[{"role":"user","content":"one two three four five"}]}`
	tests := []struct {
		name     string
		profiles []host.Profile
		mock     []mock.Option
		// leave cancels the client's context at the moment it disconnects.
		leave  func(ctx context.Context, m *mock.Server, cancel context.CancelFunc) host.Options
		status int64
		prompt int64
	}{
		{
			name:     "before the response",
			profiles: profiles,
			mock:     []mock.Option{mock.WithHang()},
			leave: func(ctx context.Context, m *mock.Server, cancel context.CancelFunc) host.Options {
				go func() {
					for m.Count() == 0 && ctx.Err() == nil { // until the request reaches the upstream
						time.Sleep(time.Millisecond)
					}
					cancel()
				}()
				return host.Options{}
			},
			status: 499,
		},
		{
			// message_start carries the input tokens; the client leaves
			// right after it, long before the stream's end.
			name:     "mid-stream",
			profiles: []host.Profile{host.Envoy, host.EnvoyFixed},
			mock:     []mock.Option{mock.WithStreamChunks(50), mock.WithChunkDelay(50 * time.Millisecond)},
			leave: func(_ context.Context, _ *mock.Server, cancel context.CancelFunc) host.Options {
				return host.Options{OnChunk: func([]byte) { cancel() }}
			},
			status: 200,
			prompt: 5,
		},
	}
	for _, tc := range tests {
		for _, profile := range tc.profiles {
			t.Run(tc.name+"/"+profile.String(), func(t *testing.T) {
				m := mock.NewAnthropic(tc.mock...)
				defer m.Close()
				r := newRig(t, profile, conf, map[string]string{"api.anthropic.com": m.URL})
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				opt := tc.leave(ctx, m, cancel)
				opt.Upstream = host.HTTPUpstream(nil, r.resolve)
				req := &host.Request{Method: "POST", Path: "/v1/messages", Authority: "gateway.local", Body: []byte(body),
					Header: [][2]string{{"content-type", "application/json"}}}
				resp, err := r.p.Do(ctx, req, opt)
				if err == nil {
					t.Fatalf("the request completed (%d) although the client left", resp.Status)
				}
				var summary string
				for _, l := range resp.Logs {
					if s, ok := strings.CutPrefix(l.Msg, "ai-proxy summary: "); ok {
						summary = s
					}
				}
				s := gjson.Parse(summary)
				if s.Get("status").Int() != tc.status || !s.Get("client_closed").Bool() || s.Get("prompt_tokens").Int() != tc.prompt {
					t.Fatalf("summary %q, want status %d, client_closed, prompt_tokens %d", summary, tc.status, tc.prompt)
				}
				if profile == host.APISIX {
					return // wasm-nginx-module's metrics calls are no-ops
				}
				class := map[int64]string{499: "4xx", 200: "2xx"}[tc.status]
				if c, ok := r.shared.Metric("wasmcustom.llm_requests_total.provider.anthropic.model.claude-sonnet-4-5.status." + class); !ok || c.Value != 1 {
					t.Fatalf("no request counted in status class %s: %+v", class, c)
				}
			})
		}
	}
}

// llm_active_streams counts the filter's live stream contexts: one while a
// stream runs, none once it has ended, whether it completed, the filter
// answered it, or its client left in the middle.
func TestActiveStreamsGauge(t *testing.T) {
	const conf = `{"provider":"anthropic","auth":{"header":{"x-api-key":"k"}},"options":{"model":"claude-sonnet-4-5"}}`
	const stream = `{"model":"c","max_tokens":500,"stream":true,"messages":[{"role":"user","content":"one two three"}]}`
	for _, profile := range []host.Profile{host.Envoy, host.EnvoyFixed} {
		t.Run(profile.String(), func(t *testing.T) {
			m := mock.NewAnthropic(mock.WithStreamChunks(20), mock.WithChunkDelay(5*time.Millisecond))
			defer m.Close()
			r := newRig(t, profile, conf, map[string]string{"api.anthropic.com": m.URL})
			gauge := func() (uint64, bool) {
				g, ok := r.shared.Metric("wasmcustom.llm_active_streams")
				return g.Value, ok
			}
			for _, tc := range []struct {
				name, body string
				leave      bool
			}{
				{"complete stream", stream, false},
				{"local reply", `{"model":"c","max_tokens":5,"messages":[]}`, false},
				{"client leaves mid-stream", stream, true},
			} {
				ctx, cancel := context.WithCancel(context.Background())
				var during []uint64
				opt := host.Options{Upstream: host.HTTPUpstream(nil, r.resolve), OnChunk: func([]byte) {
					v, _ := gauge()
					during = append(during, v)
					if tc.leave {
						cancel()
					}
				}}
				req := &host.Request{Method: "POST", Path: "/v1/messages", Body: []byte(tc.body), Header: [][2]string{{"content-type", "application/json"}}}
				_, err := r.p.Do(ctx, req, opt)
				cancel()
				if (err != nil) != tc.leave {
					t.Fatalf("%s: error %v", tc.name, err)
				}
				if tc.body == stream && (len(during) == 0 || during[0] != 1) {
					t.Errorf("%s: llm_active_streams while streaming %v, want 1", tc.name, during)
				}
				if v, ok := gauge(); !ok || v != 0 {
					t.Errorf("%s: llm_active_streams %d (defined %v) after the exchange, want 0", tc.name, v, ok)
				}
			}
		})
	}
}
