package core

import (
	"strings"
	"testing"
)

// BenchmarkStages runs a 1 KB chat request up to each stage, so that the
// differences between rows show what each callback costs.
func BenchmarkStages(b *testing.B) {
	cfg, _ := ParseConfig([]byte(openaiConf), nil)
	p := NewPlugin(cfg, envoyCaps, newFakeRoot())
	body := []byte(`{"model":"gpt-4","messages":[{"role":"user","content":"` + strings.Repeat("fox ", benchBodyWords) + `"}]}`)
	resp := []byte(`{"id":"c","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}`)
	hdrs := clientHeaders("/v1/chat/completions")
	for stage := 0; stage < 5; stage++ {
		b.Run([...]string{"0-stream", "1-headers", "2-body", "3-response", "4-done"}[stage], func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				h := &nopHost{}
				s := p.NewStream(h)
				if stage >= 1 {
					s.OnRequestHeaders(hdrs, false)
				}
				if stage >= 2 {
					h.reqBody = body
					s.OnRequestBody(len(body), true)
				}
				if stage >= 3 {
					s.OnResponseHeaders([][2]string{{":status", "200"}, {"content-type", "application/json"}}, false)
					h.respBody = resp
					s.OnResponseBody(len(resp), true)
				}
				if stage >= 4 {
					s.OnDone()
				}
			}
		})
	}
}

// nopHost is a Host whose calls cost nothing, so benchmarks measure the
// core alone (in the Wasm build each call is a host call instead).
type nopHost struct{ reqBody, respBody []byte }

func (h *nopHost) SetRequestHeader(string, string)                {}
func (h *nopHost) RemoveRequestHeader(string)                     {}
func (h *nopHost) RequestBody(n int) []byte                       { return h.reqBody }
func (h *nopHost) ReplaceRequestBody([]byte) bool                 { return true }
func (h *nopHost) SetResponseHeader(string, string)               {}
func (h *nopHost) RemoveResponseHeader(string)                    {}
func (h *nopHost) ResponseBody(n int) []byte                      { return h.respBody }
func (h *nopHost) ReplaceResponseBody([]byte) bool                { return true }
func (h *nopHost) SendLocal(int, [][2]string, []byte)             {}
func (h *nopHost) Call(string, [][2]string, []byte, uint32) bool  { return true }
func (h *nopHost) ContinueRequest()                               {}
func (h *nopHost) ContinueResponse()                              {}
func (h *nopHost) SetProperty(string, string)                     {}
func (h *nopHost) ClientAddress() string                          { return "" }
func (h *nopHost) DefineMetric(MetricKind, string) (uint32, bool) { return 0, true }
func (h *nopHost) RecordMetric(MetricKind, uint32, int64)         {}
func (h *nopHost) Activate()                                      {}
func (h *nopHost) Log(Level, string)                              {}
func (h *nopHost) NowNanos() int64                                { return 1e18 }

// benchBodyWords sizes the stage benchmark's request (4 bytes a word).
var benchBodyWords = 256
