package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
)

// `timeout` is an idle timeout, as in APISIX: an upstream silent for longer
// than timeout ends the exchange, before the headers (504) and after them
// (the stream breaks); a stream that keeps talking lives on. These tests
// run the real filter in the local gateway (make run) with timeout 1000.

const idlePlugin = `
provider: openai
auth:
  header:
    Authorization: Bearer k
options:
  model: m
timeout: 1000
`

// upstream serves handler as api.openai.com; handlers that stall wait for
// the request's end, so a cancelled exchange frees them.
func idleGateway(t *testing.T, profile host.Profile, route string, handler http.HandlerFunc) string {
	t.Helper()
	up := httptest.NewServer(handler)
	t.Cleanup(up.Close)
	base, _ := startGateway(t, profile, oneRoute(route, idlePlugin, map[string]string{"api.openai.com": up.URL}))
	return base
}

// stall blocks until the exchange is cancelled (or a test's lifetime).
func stall(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(20 * time.Second):
	}
}

func writeFlush(w http.ResponseWriter, s string) {
	io.WriteString(w, s)
	w.(http.Flusher).Flush()
}

const chatCompletion = `{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`

func openAIEvent(i int) string {
	return fmt.Sprintf(`data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"t%d "}}]}`+"\n\n", i)
}

// isTimeoutError reports a 504 whose body is the client protocol's error.
func (o outcome) isTimeoutError() bool {
	return o.status == 504 && o.err == nil && strings.Contains(gjson.GetBytes(o.body, "error.message").Str, "timeout 1000 ms")
}

// The first byte comes after 3 s: the client gets a 504 error JSON after
// about timeout, under every host.
func TestTimeoutSlowFirstByte(t *testing.T) {
	for _, profile := range profiles {
		t.Run(profile.String(), func(t *testing.T) {
			t.Parallel()
			base := idleGateway(t, profile, "/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
					return
				case <-time.After(3 * time.Second):
				}
				w.Header().Set("content-type", "application/json")
				io.WriteString(w, chatCompletion)
			})
			o := post(base+"/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`)
			if !o.isTimeoutError() || o.took > 2500*time.Millisecond {
				t.Fatalf("after %v: %d %s (read error %v)", o.took, o.status, o.body, o.err)
			}
		})
	}
}

// Half a JSON body, then silence: the exchange ends after about timeout,
// with a 504 where no header went out yet (callouts, a held response),
// else a broken connection; never a clean but truncated 200.
func TestTimeoutStallMidBody(t *testing.T) {
	for _, route := range []struct{ path, body string }{
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`},
		{"/v1/messages", `{"model":"c","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}`},
	} {
		for _, profile := range profiles {
			t.Run(route.path+"/"+profile.String(), func(t *testing.T) {
				t.Parallel()
				base := idleGateway(t, profile, route.path, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("content-type", "application/json")
					writeFlush(w, chatCompletion[:len(chatCompletion)/2])
					stall(r)
				})
				o := post(base+route.path, route.body)
				if !(o.isTimeoutError() || o.err != nil) || o.took > 2500*time.Millisecond {
					t.Fatalf("after %v: %d %q (read error %v)", o.took, o.status, o.body, o.err)
				}
			})
		}
	}
}

// Two SSE events, then silence, on the OpenAI route and on the
// Anthropic-conversion route: the client's stream breaks after about
// timeout instead of hanging (Envoy: after the events went out; APISIX:
// the buffered callout fails with a 504).
func TestTimeoutStallMidStream(t *testing.T) {
	for _, route := range []struct{ path, body string }{
		{"/v1/chat/completions", `{"stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{"/v1/messages", `{"model":"c","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"hi"}]}`},
	} {
		for _, profile := range profiles {
			t.Run(route.path+"/"+profile.String(), func(t *testing.T) {
				t.Parallel()
				base := idleGateway(t, profile, route.path, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("content-type", "text/event-stream")
					writeFlush(w, openAIEvent(0))
					writeFlush(w, openAIEvent(1))
					stall(r)
				})
				o := post(base+route.path, route.body)
				if o.took > 2500*time.Millisecond {
					t.Fatalf("the stream hung for %v", o.took)
				}
				if profile == host.APISIX {
					if !o.isTimeoutError() {
						t.Fatalf("%d %q (read error %v)", o.status, o.body, o.err)
					}
					return
				}
				if o.status != 200 || o.err == nil || !strings.Contains(string(o.body), "t1 ") {
					t.Fatalf("want both events, then a broken stream: %d %q (read error %v)", o.status, o.body, o.err)
				}
			})
		}
	}
}

// A stream of 3.5 s with an event every 250 ms outlives timeout 1000
// whole, under every host.
func TestTimeoutLivelyStreamSurvives(t *testing.T) {
	const events = 14
	for _, profile := range profiles {
		t.Run(profile.String(), func(t *testing.T) {
			t.Parallel()
			base := idleGateway(t, profile, "/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("content-type", "text/event-stream")
				for i := range events {
					writeFlush(w, openAIEvent(i))
					time.Sleep(250 * time.Millisecond)
				}
				writeFlush(w, "data: [DONE]\n\n")
			})
			o := post(base+"/v1/chat/completions", `{"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
			if o.status != 200 || o.err != nil || strings.Count(string(o.body), "chat.completion.chunk") != events ||
				!strings.HasSuffix(string(o.body), "data: [DONE]\n\n") {
				t.Fatalf("after %v: %d %q (read error %v)", o.took, o.status, o.body, o.err)
			}
		})
	}
}
