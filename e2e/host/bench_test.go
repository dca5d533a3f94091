package host_test

import (
	"context"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
)

// BenchmarkHostFloor measures the harness itself: one exchange through a
// guest whose callbacks are no-ops that make no host calls (context
// create, request and response headers, log, done, delete: 7 guest
// entries). Compare filter benchmarks against this floor.
func BenchmarkHostFloor(b *testing.B) {
	for _, p := range allProfiles {
		b.Run(p.String(), func(b *testing.B) {
			plugin := newEcho(b, host.VMConfig{Profile: p}, "")
			resp := &host.UpstreamResponse{Status: 200, Header: [][2]string{{"content-type", "application/json"}}}
			opt := host.Options{Upstream: func(context.Context, *host.UpstreamRequest) (*host.UpstreamResponse, error) { return resp, nil }}
			req := &host.Request{Method: "POST", Path: "/v1/chat/completions", Authority: "api.openai.com",
				Header: [][2]string{{"content-type", "application/json"}, {"authorization", "Bearer sk-test"}}}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := plugin.Do(ctx, req, opt); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(plugin.VM().MemorySize()), "guest-bytes")
		})
	}
}
