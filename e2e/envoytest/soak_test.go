package envoytest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/envoy"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host/hosttest"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

// Soak sizes. make test runs defaultSoakRequests; make soak sets
// AI_PROXY_SOAK_REQUESTS=200000 (about a minute more at ~3,000 req/s on two
// cores, docs/envoy-versions.md#soak).
const (
	defaultSoakRequests = 20000
	soakClients         = 16
	soakSamples         = 20 // RSS samples across the run
)

func soakRequests(t *testing.T) int {
	s := os.Getenv("AI_PROXY_SOAK_REQUESTS")
	if s == "" {
		return defaultSoakRequests
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < soakSamples*soakClients {
		t.Fatalf("AI_PROXY_SOAK_REQUESTS=%q: want a number of requests ≥ %d", s, soakSamples*soakClients)
	}
	return n
}

// enosysEnvoy picks the Envoy the soak runs on: a version whose WASI
// poll_oneoff answers ENOSYS (1.33–1.38), where a Go runtime that polls
// dies, else the first binary (ENVOY_BIN).
func enosysEnvoy(t *testing.T) envoy.Binary {
	bins := envoy.Binaries(t)
	for _, b := range bins {
		if b.Minor() >= 33 && b.Minor() <= 38 {
			return b
		}
	}
	return bins[0]
}

// TestSoak drives mixed traffic (OpenAI chat and stream, Anthropic
// Messages converted to OpenAI, plain and streamed) through
// examples/envoy/envoy.yaml in Envoy with two workers, on the ENOSYS
// version, where a Go runtime that wakes its netpoller (a GC-triggered
// poll, a timer) kills the VM. It fails on any request that is not a whole
// 200, on any VM crash line in Envoy's log, and on resident memory that
// keeps growing after warm-up.
func TestSoak(t *testing.T) {
	b := enosysEnvoy(t)
	n := soakRequests(t)
	lab := envoy.NewLab(t)
	m := mock.NewOpenAI(mock.WithAPIKey(operatorKey), mock.WithRecordLimit(16))
	t.Cleanup(m.Close)
	lab.Route("api.openai.com", m.URL)
	cfg, err := envoy.LabConfig(soakConfig(t), envoy.Module(t), lab)
	if err != nil {
		t.Fatal(err)
	}
	// warning: the filter's per-request summaries (info) are formatted by
	// the guest as always, but Envoy does not write 200,000 of them.
	e := envoy.Start(t, b, cfg, envoy.Options{Env: exampleEnv, LogLevel: "warning"})
	url := "http://" + e.ListenerAddr(t, "llm_gateway")

	res := soak(t, e, n, func(i int) soakRequest { return soakMix(url, i) })
	t.Logf("Envoy %s: %s", b.Version, res)
	res.check(t, e)
	// Flat after warm-up: the first quarter of the run grows the VMs' heaps
	// and Envoy's pools; after it, allow 10% or 16 MiB, whichever is more
	// (a leak of 1 KB per request over the last 15,000 of 20,000 requests
	// is 15 MB; over 150,000 of 200,000 it is 150 MB).
	warm := res.rss[len(res.rss)/4]
	peak := slicesMax(res.rss[len(res.rss)/4:])
	if allowed := max(warm/10, 16<<20); peak-warm > allowed {
		t.Errorf("Envoy's RSS grew after warm-up from %s to %s (allowed %s): %s", mib(warm), mib(peak), mib(allowed), res.curve())
	}
}

// TestSoakCatchesCrash runs the soak's load and checks against the guest
// that makes the Go runtime poll (e2e/testdata/gcbomb): on an ENOSYS Envoy
// (1.33–1.38) they must report the dead VMs, else TestSoak could not fail
// for the reason it exists; on Envoy ≥ 1.40 the guest lives and they must
// report nothing.
func TestSoakCatchesCrash(t *testing.T) {
	module := envoy.WriteModule(t, hosttest.BuildGuest(t, "../testdata/gcbomb"))
	forEachEnvoy(t, func(t *testing.T, b envoy.Binary) {
		e := envoy.Start(t, b, []byte(fmt.Sprintf(gcbombConfig, module)), envoy.Options{LogLevel: "warning"})
		url := "http://" + e.ListenerAddr(t, "gcbomb") + "/"
		res := soak(t, e, 2000, func(int) soakRequest {
			return soakRequest{method: http.MethodGet, url: url, want: "ok"}
		})
		t.Logf("Envoy %s with gcbomb: %s", b.Version, res)
		problems := res.problems(e)
		for _, p := range problems {
			t.Logf("detected: %s", p)
		}
		switch enosys := b.Minor() >= 33 && b.Minor() <= 38; {
		case enosys && len(problems) == 0:
			t.Fatalf("the soak's checks found nothing wrong with the gcbomb guest on Envoy %s, whose poll_oneoff answers ENOSYS", b.Version)
		case b.Minor() >= 40 && len(problems) > 0:
			t.Fatalf("the soak's checks report a failure of the gcbomb guest on Envoy %s, whose poll_oneoff works", b.Version)
		}
	})
}

// soakConfig is examples/envoy/envoy.yaml with its access log written to
// /dev/null: Envoy still formats every entry (the filter-state reads), but
// 200,000 lines do not pile up in the test's log.
func soakConfig(t *testing.T) []byte {
	var root map[string]any
	if err := yaml.Unmarshal(example(t, "envoy.yaml"), &root); err != nil {
		t.Fatal(err)
	}
	l := findNamed(t, root["static_resources"].(map[string]any)["listeners"], "llm_gateway")
	hcm := l["filter_chains"].([]any)[0].(map[string]any)["filters"].([]any)[0].(map[string]any)["typed_config"].(map[string]any)
	logs := hcm["access_log"].([]any)
	format := logs[0].(map[string]any)["typed_config"].(map[string]any)["log_format"]
	hcm["access_log"] = []any{map[string]any{
		"name": "envoy.access_loggers.file",
		"typed_config": map[string]any{
			"@type":      "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
			"path":       "/dev/null",
			"log_format": format,
		},
	}}
	b, err := yaml.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// soakRequest is one request of the load and the text a whole answer
// contains.
type soakRequest struct {
	method, url, path, body string
	want                    string
}

// soakMix cycles through the four kinds of request the soak sends.
func soakMix(url string, i int) soakRequest {
	prompt := fmt.Sprintf("soak %d %s", i, strings.Repeat("w ", i%64))
	switch i % 4 {
	case 0:
		return soakRequest{http.MethodPost, url, "/v1/chat/completions",
			`{"messages":[{"role":"user","content":"` + prompt + `"}]}`, `"You said: soak`}
	case 1:
		return soakRequest{http.MethodPost, url, "/v1/chat/completions",
			`{"messages":[{"role":"user","content":"` + prompt + `"}],"stream":true,"stream_options":{"include_usage":true}}`, "data: [DONE]"}
	case 2:
		return soakRequest{http.MethodPost, url, "/v1/messages",
			`{"model":"claude-sonnet-4-5","max_tokens":200,"system":"be brief","messages":[{"role":"user","content":"` + prompt + `"}]}`, `"stop_reason":"end_turn"`}
	default:
		return soakRequest{http.MethodPost, url, "/v1/messages",
			`{"model":"claude-sonnet-4-5","max_tokens":200,"stream":true,"messages":[{"role":"user","content":"` + prompt + `"}]}`, "event: message_stop"}
	}
}

// soakResult is what the load saw.
type soakResult struct {
	requests int
	elapsed  time.Duration
	status   map[int]int // answers by status
	bad      int         // 200s without the expected content
	errs     int         // transport errors (resets)
	firstBad string
	at       []int   // requests done at each RSS sample
	rss      []int64 // Envoy's VmRSS at each sample
}

func (r *soakResult) String() string {
	return fmt.Sprintf("%d requests in %v (%.0f req/s, %d clients), statuses %v, %d incomplete, %d transport errors; RSS %s",
		r.requests, r.elapsed.Round(time.Millisecond), float64(r.requests)/r.elapsed.Seconds(), soakClients,
		r.status, r.bad, r.errs, r.curve())
}

func (r *soakResult) curve() string {
	var b strings.Builder
	for i := range r.rss {
		fmt.Fprintf(&b, "%d:%s ", r.at[i], mib(r.rss[i]))
	}
	return strings.TrimSpace(b.String())
}

func mib(n int64) string { return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20)) }

func slicesMax(s []int64) int64 {
	m := s[0]
	for _, v := range s {
		m = max(m, v)
	}
	return m
}

// crashLine matches what Envoy logs when a Wasm VM fails: a guest callback
// that traps (the Go runtime's fatal error ends in `unreachable`), the
// Go runtime's own fatal error lines, and a failed VM or plugin.
var crashLine = regexp.MustCompile(`(?m)^.*(Uncaught RuntimeError|unreachable|wasm_fail_stream|fatal error|panic: |Function: \S+ failed|Wasm VM failed|Failed to).*$`)

// problems lists everything that says the VM did not survive the load.
func (r *soakResult) problems(e *envoy.Envoy) []string {
	var out []string
	if ok := r.status[http.StatusOK]; ok != r.requests {
		out = append(out, fmt.Sprintf("%d of %d requests answered 200 (statuses %v, %d 503s, %d transport errors); first bad answer: %s",
			ok, r.requests, r.status, r.status[http.StatusServiceUnavailable], r.errs, r.firstBad))
	}
	if r.bad > 0 {
		out = append(out, fmt.Sprintf("%d answers lacked their expected content; first: %s", r.bad, r.firstBad))
	}
	if lines := crashLine.FindAllString(e.Log(), 5); len(lines) > 0 {
		out = append(out, "Envoy's log reports a failing VM:\n"+strings.Join(lines, "\n"))
	}
	if e.Exited() {
		out = append(out, "Envoy exited")
	}
	return out
}

func (r *soakResult) check(t *testing.T, e *envoy.Envoy) {
	t.Helper()
	for _, p := range r.problems(e) {
		t.Error(p)
	}
}

// soak sends n requests made by next from soakClients concurrent clients
// over keep-alive connections, reads every answer whole, and samples
// Envoy's RSS soakSamples times along the way.
func soak(t *testing.T, e *envoy.Envoy, n int, next func(i int) soakRequest) *soakResult {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: soakClients, MaxIdleConnsPerHost: soakClients, DisableCompression: true,
	}}
	defer client.CloseIdleConnections()
	res := &soakResult{requests: n, status: map[int]int{}}
	var (
		mu     sync.Mutex
		issued atomic.Int64
		done   atomic.Int64
		wg     sync.WaitGroup
	)
	every := int64(n / soakSamples)
	sample := func() {
		rss, err := e.RSS()
		if err != nil {
			t.Errorf("reading Envoy's RSS: %v", err)
		}
		res.at = append(res.at, int(done.Load()))
		res.rss = append(res.rss, rss)
	}
	sample()
	start := time.Now()
	for range soakClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(issued.Add(1) - 1)
				if i >= n {
					return
				}
				sr := next(i)
				status, body, err := sr.do(client)
				mu.Lock()
				switch {
				case err != nil:
					res.errs++
					res.status[0]++
				default:
					res.status[status]++
					if status == http.StatusOK && !bytes.Contains(body, []byte(sr.want)) {
						res.bad++
					}
				}
				if (err != nil || status != http.StatusOK || !bytes.Contains(body, []byte(sr.want))) && res.firstBad == "" {
					res.firstBad = fmt.Sprintf("request %d %s: %d %v %.200q", i, sr.path, status, err, body)
				}
				if d := done.Add(1); d%every == 0 {
					sample()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if res.at[len(res.at)-1] != n {
		sample()
	}
	return res
}

func (sr soakRequest) do(c *http.Client) (int, []byte, error) {
	var body io.Reader
	if sr.body != "" {
		body = strings.NewReader(sr.body)
	}
	req, err := http.NewRequest(sr.method, sr.url+sr.path, body)
	if err != nil {
		return 0, nil, err
	}
	if sr.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+clientSecret)
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}
