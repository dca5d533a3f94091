package envoytest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/envoy"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

// operatorKey is the key examples/envoy/envoy.yaml puts on every request.
const operatorKey = "sk-REPLACE-ME"

// clientSecret is the credential clients send; it must never reach a
// provider.
const clientSecret = "client-secret-must-not-leak"

// TestOpenAIThroughExample sends OpenAI chat through examples/envoy/envoy.yaml
// in real Envoy to the OpenAI mock, served over TLS as api.openai.com by
// the lab: the dynamic forward proxy resolves it with the lab DNS and
// validates the lab certificate.
func TestOpenAIThroughExample(t *testing.T) {
	forEachEnvoy(t, func(t *testing.T, b envoy.Binary) {
		lab := envoy.NewLab(t)
		m := mock.NewOpenAI(mock.WithAPIKey(operatorKey))
		t.Cleanup(m.Close)
		slow := newLockstepSSE(5, 200*time.Millisecond)
		lab.Route("api.openai.com", upstream(t, m, slow))
		g := startExample(t, b, lab, "envoy.yaml")

		t.Run("chat", func(t *testing.T) {
			m.Reset()
			resp, body := g.post(t, "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`)
			if resp.StatusCode != 200 || gjson.Get(body, "choices.0.message.content").String() != "You said: hi" {
				t.Fatalf("got %d %s", resp.StatusCode, body)
			}
			if got := gjson.Get(body, "model").String(); got != "gpt-4o-mini" {
				t.Errorf("model = %q, want the example's options.model gpt-4o-mini", got)
			}
			r := onlyRequest(t, m)
			if r.Path != "/v1/chat/completions" || r.Host != lab.Authority("api.openai.com") || r.Get("model").String() != "gpt-4o-mini" {
				t.Errorf("upstream got %s %s host %q model %q", r.Method, r.Path, r.Host, r.Get("model"))
			}
			checkAuth(t, r.Header)
		})

		t.Run("stream", func(t *testing.T) {
			m.Reset()
			resp, body := g.post(t, "/v1/chat/completions", `{"messages":[{"role":"user","content":"Stream please"}],"stream":true}`)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("got %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			var text strings.Builder
			events := sseData(body)
			for _, d := range events {
				text.WriteString(gjson.Get(d, "choices.0.delta.content").String())
			}
			if text.String() != "You said: Stream please" || events[len(events)-1] != "[DONE]" {
				t.Errorf("stream text %q, events %q", text.String(), events)
			}
			checkAuth(t, onlyRequest(t, m).Header)
		})

		t.Run("events arrive one by one", func(t *testing.T) {
			resp, err := g.send(t, "/v1/chat/completions", `{"messages":[{"role":"user","content":"lockstep"}],"stream":true}`)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			got := slow.read(resp.Body)
			if want := slow.events + 1; len(got) != want {
				t.Errorf("client saw %d events, want %d: %q", len(got), want, got)
			}
			for _, f := range slow.failures() {
				t.Error(f)
			}
			checkAuth(t, slow.header())
		})
	})
}

// checkAuth asserts the upstream saw the operator's key and nothing of the
// client's credentials.
func checkAuth(t *testing.T, h http.Header) {
	t.Helper()
	if got := h.Get("Authorization"); got != "Bearer "+operatorKey {
		t.Errorf("upstream Authorization = %q, want the operator's Bearer %s", got, operatorKey)
	}
	for name, vs := range h {
		for _, v := range vs {
			if strings.Contains(v, clientSecret) {
				t.Errorf("the client's credential reached the upstream in %s: %q", name, v)
			}
		}
	}
}

func onlyRequest(t *testing.T, m *mock.Server) mock.Recorded {
	t.Helper()
	reqs := m.Requests()
	if len(reqs) != 1 {
		t.Fatalf("the mock saw %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

// send posts body to the gateway as a client with its own credentials.
func (g gateway) send(t *testing.T, path, body string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, g.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+clientSecret)
	c := &http.Client{Timeout: 30 * time.Second}
	return c.Do(req)
}

// post sends body and reads the whole answer.
func (g gateway) post(t *testing.T, path, body string) (*http.Response, string) {
	t.Helper()
	resp, err := g.send(t, path, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// sseData returns the data of each event of an SSE body.
func sseData(body string) []string {
	var out []string
	for _, ev := range strings.Split(body, "\n\n") {
		for _, line := range strings.Split(ev, "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok {
				out = append(out, d)
			}
		}
	}
	return out
}

// upstream is the plain-HTTP server the lab routes api.openai.com to:
// requests whose prompt says "lockstep" go to slow, all others to the mock
// (its recorded Host is the one Envoy sent).
func upstream(t *testing.T, m *mock.Server, slow *lockstepSSE) string {
	target, _ := url.Parse(m.URL)
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
		},
		FlushInterval: -1,
	}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte("lockstep")) {
			slow.serve(w, r)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// lockstepSSE is an upstream that streams OpenAI chat chunks gap apart and
// sends each event only once the client has read the one before (or a
// generous 5 s has passed, which is a failure): an Envoy or filter that
// holds events back cannot pass.
type lockstepSSE struct {
	events int
	gap    time.Duration

	seen chan int    // the client read event i
	errs chan string // what went wrong upstream
	hdr  chan http.Header
}

func newLockstepSSE(events int, gap time.Duration) *lockstepSSE {
	return &lockstepSSE{
		events: events, gap: gap,
		seen: make(chan int, events+1), errs: make(chan string, events+1), hdr: make(chan http.Header, 1),
	}
}

func (l *lockstepSSE) serve(w http.ResponseWriter, r *http.Request) {
	l.hdr <- r.Header.Clone()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	rc := http.NewResponseController(w)
	for i := 0; i <= l.events; i++ {
		ev := fmt.Sprintf(`data: {"id":"chatcmpl-ls","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"w%d "},"finish_reason":null}]}`+"\n\n", i)
		if i == l.events {
			ev = "data: [DONE]\n\n"
		}
		if i > 0 {
			select {
			case <-l.seen:
			case <-time.After(5 * time.Second):
				l.errs <- fmt.Sprintf("the client had not received event %d 5 s after the upstream sent it", i-1)
			}
			time.Sleep(l.gap)
		}
		io.WriteString(w, ev)
		rc.Flush()
	}
}

// read reads the stream as the client, reporting each complete event to
// the upstream, and returns the events' data.
func (l *lockstepSSE) read(body io.Reader) []string {
	var out []string
	br := bufio.NewReader(body)
	var ev strings.Builder
	for {
		line, err := br.ReadString('\n')
		ev.WriteString(line)
		if line == "\n" {
			out = append(out, sseData(ev.String())...)
			ev.Reset()
			l.seen <- len(out) // buffered for every event
		}
		if err != nil {
			return out
		}
	}
}

func (l *lockstepSSE) failures() []string {
	var out []string
	for {
		select {
		case e := <-l.errs:
			out = append(out, e)
		default:
			return out
		}
	}
}

func (l *lockstepSSE) header() http.Header {
	select {
	case h := <-l.hdr:
		return h
	default:
		return nil
	}
}
