package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
)

// chunkReader yields one chunk per Read, like an upstream socket.
type chunkReader struct{ chunks [][]byte }

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	if n == len(r.chunks[0]) {
		r.chunks = r.chunks[1:]
	} else {
		r.chunks[0] = r.chunks[0][n:]
	}
	return n, nil
}
func (r *chunkReader) Close() error { return nil }

// cannedUpstream answers like OpenAI without a network: JSON for plain
// requests, SSE event by event for streams.
func cannedUpstream(events int) host.Upstream {
	jsonBody := []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"` +
		strings.Repeat("word ", 60) + `"},"finish_reason":"stop"}],"usage":{"prompt_tokens":120,"completion_tokens":60,"total_tokens":180}}`)
	var sse [][]byte
	for i := 0; i < events; i++ {
		sse = append(sse, []byte(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"tok`+fmt.Sprint(i)+` "},"finish_reason":null}],"usage":null}`+"\n\n"))
	}
	sse = append(sse, []byte(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":120,"completion_tokens":10,"total_tokens":130}}`+"\n\ndata: [DONE]\n\n"))
	return func(_ context.Context, r *host.UpstreamRequest) (*host.UpstreamResponse, error) {
		if bytes.Contains(r.Body, []byte(`"stream":true`)) {
			return &host.UpstreamResponse{Status: 200, Header: [][2]string{{"content-type", "text/event-stream"}},
				Body: &chunkReader{chunks: append([][]byte(nil), sse...)}}, nil
		}
		return &host.UpstreamResponse{Status: 200, Header: [][2]string{{"content-type", "application/json"}, {"content-length", fmt.Sprint(len(jsonBody))}},
			Body: &chunkReader{chunks: [][]byte{jsonBody}}}, nil
	}
}

// chatRequest is a realistic ~1.5 KB chat request.
func chatRequest(stream bool, size int) *host.Request {
	content := strings.Repeat("The quick brown fox jumps over the lazy dog. ", size/45+1)[:size]
	body := `{"model":"gpt-4","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"` + content + `"}],"temperature":0.7`
	if stream {
		body += `,"stream":true`
	}
	body += "}"
	return &host.Request{Method: "POST", Path: "/v1/chat/completions", Authority: "gateway.local",
		Header: [][2]string{{"content-type", "application/json"}, {"authorization", "Bearer client"}, {"user-agent", "soak"},
			{"content-length", fmt.Sprint(len(body))}},
		Body: []byte(body)}
}

// soakRequests is how many requests the GC-safety test pushes through one VM.
func soakRequests() int {
	if os.Getenv("AI_PROXY_SOAK") == "short" {
		return 20000
	}
	return 200000
}

// TestGCSafetySoak pushes ≥200k requests with realistic bodies through one
// VM under Envoy 1.33–1.38 semantics (poll_oneoff → ENOSYS, restricted
// callbacks in the allocator) and under the fixed host. A Go GC that
// reached poll_oneoff would kill the VM; guest memory must stay bounded.
func TestGCSafetySoak(t *testing.T) {
	for _, profile := range []host.Profile{host.Envoy, host.EnvoyFixed} {
		t.Run(profile.String(), func(t *testing.T) {
			ctx := context.Background()
			p := newRig(t, profile, `{"provider":"openai","auth":{"header":{"Authorization":"Bearer k"}},"options":{"model":"gpt-4o-mini"}}`, nil).p
			vm := p.VM()
			opt := host.Options{Upstream: cannedUpstream(8)}
			n := soakRequests()
			var memAtHalf uint32
			for i := 0; i < n; i++ {
				req := chatRequest(i%3 == 0, 200+(i%7)*700)
				resp, err := p.Do(ctx, req, opt)
				if err != nil {
					t.Fatalf("request %d: %v (vm: %v)", i, err, vm.Dead())
				}
				if resp.Status != 200 || resp.FilterState["wasm.llm_total_tokens"] == "" {
					t.Fatalf("request %d: status %d, filter state %v, body %.200s", i, resp.Status, resp.FilterState, resp.Body)
				}
				if i == n/2 {
					memAtHalf = vm.MemorySize()
				}
			}
			if err := vm.Dead(); err != nil {
				t.Fatalf("VM died: %v", err)
			}
			end := vm.MemorySize()
			t.Logf("%d requests: guest memory %d MiB at half, %d MiB at end", n, memAtHalf>>20, end>>20)
			if end > 64<<20 || end > memAtHalf+8<<20 {
				t.Fatalf("guest memory grows: %d MiB at half, %d MiB at end", memAtHalf>>20, end>>20)
			}
			for _, l := range vm.Logs() {
				if strings.Contains(l.Msg, "fatal error") || strings.Contains(l.Msg, "poll_oneoff") {
					t.Fatalf("guest runtime complained: %s", l.Msg)
				}
			}
		})
	}
}
