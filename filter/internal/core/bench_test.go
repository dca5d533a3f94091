package core

import (
	"strings"
	"testing"
)

// BenchmarkRequest1KB is the filter's work for one 1 KB chat request and
// its JSON answer, natively: the Wasm build does the same work ~10x slower.
func BenchmarkRequest1KB(b *testing.B) {
	cfg, err := ParseConfig([]byte(openaiConf), nil)
	if err != nil {
		b.Fatal(err)
	}
	p := NewPlugin(cfg, envoyCaps, newFakeRoot())
	body := []byte(`{"model":"gpt-4","messages":[{"role":"user","content":"` + strings.Repeat("fox ", 240) + `"}]}`)
	resp := []byte(`{"id":"c","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}`)
	hdrs := clientHeaders("/v1/chat/completions")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h := newFakeHost(append([][2]string(nil), hdrs...)...)
		s := p.NewStream(h)
		s.OnRequestHeaders(hdrs, false)
		h.reqBody = body
		s.OnRequestBody(len(body), true)
		s.OnResponseHeaders([][2]string{{":status", "200"}, {"content-type", "application/json"}})
		h.respBody = resp
		s.OnResponseBody(len(resp), true)
		s.OnDone()
	}
}
