package envoytest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

// ai-proxy-multi in real Envoy: two instances behind the lab's
// *.openai.azure.com names, "first" (priority 1, tried first) whose
// behaviour each case sets, and "second", a mock that needs its own key.
const (
	firstHost  = "first.openai.azure.com"
	secondHost = "second.openai.azure.com"
	weightHost = "weighted.openai.azure.com"
)

// multiInstances is an ai-proxy-multi configuration over first and
// second; extra adds top-level members.
func multiInstances(extra string) string {
	return `{"instances":[` +
		`{"name":"first","provider":"openai-compatible","weight":1,"priority":1,"auth":{"header":{"Authorization":"Bearer key-first"}},` +
		`"options":{"model":"first-model","temperature":0.9},"override":{"endpoint":"https://` + firstHost + `/v1/chat/completions"}},` +
		`{"name":"second","provider":"openai-compatible","weight":1,"auth":{"header":{"Authorization":"Bearer key-second"}},` +
		`"options":{"model":"second-model"},"override":{"endpoint":"https://` + secondHost + `/v1/chat/completions"}}]` +
		`,"fallback_strategy":["http_429","http_5xx"],"timeout":1500,"logging":{"summaries":true}` + extra + `}`
}

// weightedInstances: 8:2 over two mocks that both answer.
func weightedInstances() string {
	return `{"instances":[` +
		`{"name":"eight","provider":"openai-compatible","weight":8,"auth":{"header":{"Authorization":"Bearer key-second"}},` +
		`"options":{"model":"eight"},"override":{"endpoint":"https://` + secondHost + `/v1/chat/completions"}},` +
		`{"name":"two","provider":"openai-compatible","weight":2,"auth":{"header":{"Authorization":"Bearer key-second"}},` +
		`"options":{"model":"two"},"override":{"endpoint":"https://` + weightHost + `/v1/chat/completions"}}]}`
}

// multiListeners and multiCallouts are what the rig adds for these tests:
// a retry is a callout to the instance's host:443 cluster.
func multiListeners() []listener {
	return []listener{
		{name: "multi", plugin: multiInstances(`,"allow_on_headers_stop_iteration":true`)},
		{name: "multi_nohold", plugin: multiInstances(""), noHold: true},
		{name: "weighted", plugin: weightedInstances()},
	}
}

var multiCallouts = []string{firstHost, secondHost, weightHost}

// firstUpstream is the first instance's provider, failing as told.
type firstUpstream struct {
	mode  atomic.Value // string: "429", "500", "reset", "hang", "ok"
	count atomic.Int32
	srv   *httptest.Server
	ok    *mock.Server
}

func newFirstUpstream(t *testing.T) *firstUpstream {
	f := &firstUpstream{ok: mock.NewOpenAI(mock.WithAPIKey("key-first"))}
	f.mode.Store("ok")
	var hung sync.WaitGroup
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.count.Add(1)
		switch f.mode.Load().(string) {
		case "429":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
			w.Write([]byte(`{"error":{"message":"first is rate limited","type":"rate_limit_error"}}`))
		case "500":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(500)
			w.Write([]byte(`{"error":{"message":"first broke","type":"server_error"}}`))
		case "reset":
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			}
		case "hang":
			hung.Add(1)
			defer hung.Done()
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		default:
			http.Error(w, "first is not expected to answer here", 418)
		}
	}))
	t.Cleanup(func() { f.srv.Close(); f.ok.Close(); hung.Wait() })
	return f
}

// testMulti proves ai-proxy-multi's balancing and fallback in Envoy: the
// weights hold across two workers, and a failed first attempt (429, 5xx,
// a reset connection, silence past timeout) is answered by the next
// instance before any byte reaches the client, with and without
// allow_on_headers_stop_iteration; a stream after a fallback arrives whole.
func testMulti(t *testing.T, r *rig) {
	t.Run("weights across two workers", func(t *testing.T) {
		r.second.Reset()
		r.weighted.Reset()
		before := workerConnections(t, r)
		// A connection per request, so that both workers take requests.
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
		var wg sync.WaitGroup
		errs := make(chan string, 100)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 25 {
					resp, err := client.Post(r.gw["weighted"].URL+"/v1/chat/completions", "application/json",
						strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
					if err != nil {
						errs <- err.Error()
						continue
					}
					if resp.StatusCode != 200 {
						errs <- resp.Status
					}
					resp.Body.Close()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatalf("request failed: %s", e)
		}
		after := workerConnections(t, r)
		if after[0] == before[0] || after[1] == before[1] {
			t.Fatalf("one worker served every request: connections per worker %v, then %v", before, after)
		}
		// Smooth WRR is exact per worker to within one pick: 80 ± 2 over
		// two workers.
		if eight, two := r.second.Count(), r.weighted.Count(); eight < 78 || eight > 82 || eight+two != 100 {
			t.Fatalf("weights 8:2 gave %d:%d over 100 requests", eight, two)
		}
	})
	for _, l := range []string{"multi", "multi_nohold"} {
		for _, tc := range []struct {
			mode   string
			stream bool
		}{{"429", false}, {"500", false}, {"reset", false}, {"hang", false}, {"500", true}, {"reset", true}} {
			name := l + "/" + tc.mode
			if tc.stream {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				r.first.mode.Store(tc.mode)
				r.first.count.Store(0)
				r.second.Reset()
				body := `{"model":"client","messages":[{"role":"user","content":"hi"}]}`
				if tc.stream {
					body = `{"model":"client","stream":true,"messages":[{"role":"user","content":"stream me"}]}`
				}
				resp, got := r.gw[l].post(t, "/v1/chat/completions", body)
				if resp.StatusCode != 200 {
					t.Fatalf("client got %d %s", resp.StatusCode, got)
				}
				if tc.stream && (!strings.Contains(got, "data: ") || !strings.Contains(got, "[DONE]")) {
					t.Fatalf("stream after fallback: %q", got)
				}
				if !tc.stream && !strings.Contains(got, "second-model") {
					t.Fatalf("answer is not second's: %s", got)
				}
				if n := r.first.count.Load(); n != 1 {
					t.Errorf("first saw %d requests, want 1", n)
				}
				sent := onlyRequest(t, r.second)
				if sent.Get("model").Str != "second-model" || sent.Get("temperature").Exists() {
					t.Errorf("second saw the first attempt's options: %s", sent.Body)
				}
				if a := sent.Header.Get("Authorization"); a != "Bearer key-second" {
					t.Errorf("second saw Authorization %q", a)
				}
			})
		}
	}
	t.Run("metrics", func(t *testing.T) {
		prom := r.Prometheus(t)
		for _, re := range []string{
			`(?m)^llm_fallbacks_total\{instance="first",reason="status_429"\} 2$`,
			`(?m)^llm_fallbacks_total\{instance="first",reason="transport"\} [1-9]`,
			`(?m)^llm_requests_total\{instance="second",provider="openai-compatible",model="second-model",status="2xx"\} [1-9]`,
		} {
			if !regexp.MustCompile(re).MatchString(prom) {
				t.Errorf("/stats/prometheus has no line matching %s", re)
			}
		}
		if t.Failed() {
			for _, l := range strings.Split(prom, "\n") {
				if strings.Contains(l, "instance=") {
					t.Log(l)
				}
			}
		}
	})
	t.Run("401 is not retried", func(t *testing.T) {
		r.first.mode.Store("ok") // the mock with key-first answers 418 here: not in the classes
		r.second.Reset()
		resp, got := r.gw["multi"].post(t, "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`)
		if resp.StatusCode != 418 || r.second.Count() != 0 {
			t.Fatalf("client got %d %s; second saw %d", resp.StatusCode, got, r.second.Count())
		}
	})
}
