package envoytest

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// The "timeout" listener: the example's listener (route timeout 0s, route
// idle_timeout 300s, HCM stream_idle_timeout 900s) with a plugin whose
// timeout is 2000 ms, in front of DeepSeek, which the lab routes to
// timeoutUpstream.
const (
	timeoutMS     = 2000
	timeoutPlugin = `{"provider":"deepseek","auth":{"header":{"Authorization":"Bearer ` + operatorKey + `"}},"timeout":2000}`
)

// timeoutMarker names what timeoutUpstream does with a request: the prompt
// holds "tmo:<behaviour>-<id>".
var timeoutMarker = regexp.MustCompile(`tmo:([a-z-]+)-[0-9a-z]+`)

// upstreamLog is what timeoutUpstream saw of each request, by marker.
type upstreamLog struct {
	mu        sync.Mutex
	headers   map[string]http.Header
	cancelled map[string]chan struct{} // closed when Envoy cancelled it
	after     map[string]time.Duration // from its arrival to its cancellation
}

func (l *upstreamLog) entry(marker string) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.cancelled[marker]
	if c == nil {
		c = make(chan struct{})
		l.cancelled[marker] = c
	}
	return c
}

// timeoutUpstream serves, as the provider of the timeout listener:
//   - first-byte: nothing for 6 s, then a completion;
//   - stall-body: half a JSON completion, then nothing;
//   - stall-stream: two SSE chunks, then nothing;
//   - lively: 20 SSE chunks 500 ms apart (10 s), then [DONE];
//   - a GET (a models listing): an empty list.
//
// Whatever waits stops when Envoy cancels the request, which it records.
func (r *rig) timeoutUpstream(t *testing.T) string {
	r.tmo = &upstreamLog{headers: map[string]http.Header{}, cancelled: map[string]chan struct{}{}, after: map[string]time.Duration{}}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		marker := "GET"
		if req.Method != http.MethodGet {
			marker = timeoutMarker.FindString(string(body))
		}
		r.tmo.mu.Lock()
		r.tmo.headers[marker] = req.Header.Clone()
		r.tmo.mu.Unlock()
		cancelled, arrived := r.tmo.entry(marker), time.Now()
		stall := func(d time.Duration) bool {
			select {
			case <-req.Context().Done():
				r.tmo.mu.Lock()
				r.tmo.after[marker] = time.Since(arrived)
				r.tmo.mu.Unlock()
				close(cancelled)
				return true
			case <-time.After(d):
				return false
			}
		}
		flush := func(s string) {
			io.WriteString(w, s)
			http.NewResponseController(w).Flush()
		}
		switch m := timeoutMarker.FindStringSubmatch(marker); {
		case marker == "GET":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"object":"list","data":[]}`)
		case m == nil:
			http.Error(w, "no tmo: marker", http.StatusBadRequest)
		case m[1] == "first-byte":
			if stall(6 * time.Second) {
				return
			}
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, completionJSON)
		case m[1] == "stall-body":
			w.Header().Set("Content-Type", "application/json")
			flush(completionJSON[:len(completionJSON)/2])
			stall(20 * time.Second)
		case m[1] == "stall-stream":
			w.Header().Set("Content-Type", "text/event-stream")
			flush(chunkEvent(0))
			flush(chunkEvent(1))
			stall(20 * time.Second)
		case m[1] == "lively":
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range livelyEvents {
				flush(chunkEvent(i))
				if stall(500 * time.Millisecond) {
					return
				}
			}
			flush("data: [DONE]\n\n")
		}
	}))
	t.Cleanup(s.Close)
	return s.URL
}

const livelyEvents = 20

const completionJSON = `{"id":"c","object":"chat.completion","created":1,"model":"deepseek-chat","choices":[{"index":0,"message":{"role":"assistant","content":"late"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`

func chunkEvent(i int) string {
	return fmt.Sprintf(`data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"deepseek-chat","choices":[{"index":0,"delta":{"content":"t%d "},"finish_reason":null}]}`+"\n\n", i)
}

// timedExchange is what a client saw of one request: the status, the body it
// read and the error that ended reading (nil: a clean end), and when.
type timedExchange struct {
	status int
	body   string
	err    error
	took   time.Duration
}

// timed sends a request as a client bounded by a 15 s deadline, well
// above the timeout, so a hang shows as a failure rather than a stuck test.
func (g gateway) timed(t *testing.T, method, path, body string) timedExchange {
	t.Helper()
	req, _ := http.NewRequest(method, g.URL+path, strings.NewReader(body))
	if body == "" {
		req.Body = http.NoBody
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+clientSecret)
	start := time.Now()
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		return timedExchange{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, err = io.Copy(&b, bufio.NewReader(resp.Body))
	return timedExchange{status: resp.StatusCode, body: b.String(), err: err, took: time.Since(start)}
}

func (e timedExchange) String() string {
	return fmt.Sprintf("after %v: %d %q (read error %v)", e.took.Round(time.Millisecond), e.status, e.body, e.err)
}

// isTimeout504 reports the filter's 504 with the client protocol's error.
func (e timedExchange) isTimeout504() bool {
	return e.status == 504 && e.err == nil && strings.Contains(gjson.Get(e.body, "error.message").Str, "timeout 2000 ms")
}

// testTimeouts: `timeout` is an idle timeout in real Envoy, with the
// example's route and HCM settings. The cases run in parallel; the lively
// stream sets the pace (10 s).
func testTimeouts(t *testing.T, r *rig) {
	g := r.gw["timeout"]
	const (
		chat     = "/v1/chat/completions"
		messages = "/v1/messages"
	)
	bodyFor := func(path, marker string, stream bool) string {
		if path == messages {
			return fmt.Sprintf(`{"model":"deepseek-chat","max_tokens":50,"stream":%v,"messages":[{"role":"user","content":"%s"}]}`, stream, marker)
		}
		return fmt.Sprintf(`{"model":"deepseek-chat","stream":%v,"messages":[{"role":"user","content":"%s"}]}`, stream, marker)
	}
	// cancelled asserts that Envoy ended the upstream request too.
	cancelled := func(t *testing.T, marker string) {
		t.Helper()
		select {
		case <-r.tmo.entry(marker):
			r.tmo.mu.Lock()
			t.Logf("Envoy cancelled the upstream request %v after it arrived", r.tmo.after[marker].Round(time.Millisecond))
			r.tmo.mu.Unlock()
		case <-time.After(5 * time.Second):
			t.Errorf("the upstream request %s was still open 5 s after the client's exchange ended", marker)
		}
	}
	// The watchdog never fires early and at most two ticks (200 ms each)
	// late; 1.5 s leaves room for a loaded machine.
	const bound = timeoutMS*time.Millisecond + 1500*time.Millisecond
	// After the response headers the local reply resets the stream, and
	// Envoy closes an HTTP/1.1 client connection only after the HCM's
	// delayed_close_timeout (1 s by default): the client sees the end about
	// 1 s after the upstream request was cancelled.
	const stallBound = bound + 1500*time.Millisecond

	t.Run("slow first byte gives a 504", func(t *testing.T) {
		t.Parallel()
		const marker = "tmo:first-byte-1"
		e := g.timed(t, "POST", chat, bodyFor(chat, marker, false))
		t.Logf("slow first byte: %v", e)
		if !e.isTimeout504() || e.took > bound || e.took < timeoutMS*time.Millisecond {
			t.Fatalf("want the filter's 504 after 2-3.5 s, got %v", e)
		}
		cancelled(t, marker)
	})
	for _, path := range []string{chat, messages} {
		t.Run("stall mid-body ends the exchange"+path, func(t *testing.T) {
			t.Parallel()
			marker := "tmo:stall-body-" + strings.Trim(strings.ReplaceAll(path, "/", ""), "v1")
			e := g.timed(t, "POST", path, bodyFor(path, marker, false))
			t.Logf("stall mid-body %s: %v", path, e)
			if !(e.isTimeout504() || e.status == 200 && e.err != nil) || e.took > stallBound {
				t.Fatalf("want a 504 or a reset within 5 s, got %v", e)
			}
			cancelled(t, marker)
		})
		t.Run("stall mid-stream ends the exchange"+path, func(t *testing.T) {
			t.Parallel()
			marker := "tmo:stall-stream-" + strings.Trim(strings.ReplaceAll(path, "/", ""), "v1")
			e := g.timed(t, "POST", path, bodyFor(path, marker, true))
			t.Logf("stall mid-stream %s: %v", path, e)
			if e.status != 200 || e.err == nil || !strings.Contains(e.body, "t1 ") || e.took > stallBound {
				t.Fatalf("want both events, then a reset within 5 s, got %v", e)
			}
			cancelled(t, marker)
		})
	}
	t.Run("lively stream outlives the timeout", func(t *testing.T) {
		t.Parallel()
		const marker = "tmo:lively-1"
		e := g.timed(t, "POST", chat, bodyFor(chat, marker, true))
		if e.status != 200 || e.err != nil || strings.Count(e.body, "chat.completion.chunk") != livelyEvents ||
			!strings.HasSuffix(e.body, "data: [DONE]\n\n") {
			t.Fatalf("want all %d events and [DONE], got %v", livelyEvents, e)
		}
		t.Logf("lively stream of %d events 500 ms apart: whole after %v", livelyEvents, e.took.Round(time.Millisecond))
		// The router consumed the filter's x-envoy-upstream-rq-timeout-ms: 0,
		// and, no timeout being set, sent no expected timeout either.
		r.tmo.mu.Lock()
		h := r.tmo.headers[marker]
		r.tmo.mu.Unlock()
		for _, k := range []string{"x-envoy-upstream-rq-timeout-ms", "x-envoy-expected-rq-timeout-ms"} {
			if v, ok := h[http.CanonicalHeaderKey(k)]; ok {
				t.Errorf("the upstream got %s %q", k, v)
			}
		}
	})
	t.Run("models listing keeps timeout as the router's total timeout", func(t *testing.T) {
		t.Parallel()
		e := g.timed(t, "GET", "/v1/models", "")
		if e.status != 200 || e.err != nil {
			t.Fatalf("got %v", e)
		}
		r.tmo.mu.Lock()
		h := r.tmo.headers["GET"]
		r.tmo.mu.Unlock()
		if v := h.Get("x-envoy-expected-rq-timeout-ms"); v != "2000" {
			t.Errorf("upstream x-envoy-expected-rq-timeout-ms %q, want 2000", v)
		}
		if v, ok := h["X-Envoy-Upstream-Rq-Timeout-Ms"]; ok {
			t.Errorf("the router passed x-envoy-upstream-rq-timeout-ms %q on", v)
		}
	})
}
