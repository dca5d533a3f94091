package core

import (
	"strconv"
	"strings"
	"testing"
)

// BenchmarkRequest is the filter's work for one chat request and its JSON
// answer, natively: the Wasm build does the same work ~10x slower.
func BenchmarkRequest(b *testing.B) {
	for _, n := range []int{1 << 10, 100 << 10} {
		b.Run(strconv.Itoa(n>>10)+"KB", func(b *testing.B) { benchRequest(b, n) })
	}
}

func benchRequest(b *testing.B, size int) {
	cfg, err := ParseConfig([]byte(openaiConf), nil)
	if err != nil {
		b.Fatal(err)
	}
	p := NewPlugin(cfg, envoyCaps, newFakeRoot())
	body := []byte(`{"model":"gpt-4","messages":[{"role":"user","content":"` + strings.Repeat("fox ", size/4) + `"}]}`)
	resp := []byte(`{"id":"c","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}`)
	hdrs := clientHeaders("/v1/chat/completions")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h := newFakeHost(append([][2]string(nil), hdrs...)...)
		s := p.NewStream(h)
		s.OnRequestHeaders(hdrs, false)
		h.reqBody = body
		s.OnRequestBody(len(body), true)
		s.OnResponseHeaders([][2]string{{":status", "200"}, {"content-type", "application/json"}}, false)
		h.respBody = resp
		s.OnResponseBody(len(resp), true)
		s.OnDone()
	}
}

// BenchmarkHeaderOnly is a bodiless request (GET /v1/models) passed to
// the provider with the operator's credentials.
func BenchmarkHeaderOnly(b *testing.B) {
	cfg, err := ParseConfig([]byte(openaiConf), nil)
	if err != nil {
		b.Fatal(err)
	}
	p := NewPlugin(cfg, envoyCaps, newFakeRoot())
	hdrs := clientHeaders("/v1/models")
	hdrs[0][1] = "GET"
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h := newFakeHost()
		s := p.NewStream(h)
		s.OnRequestHeaders(hdrs, true)
		s.OnDone()
	}
}
