package envoytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/envoy"
	harness "github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/gateway"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

// TestHarnessMatchesEnvoy is the differential test: each scenario goes
// through real Envoy and through the harness profile that claims to be
// that Envoy (e2e/gateway with host.Envoy for 1.33–1.38, host.EnvoyFixed
// for newer), with the same plugin configuration, to a recording upstream
// that answers both alike. The upstream must see the same request and the
// client the same response, except for what Envoy itself adds (listed in
// envoyOwnRequestHeaders and envoyOwnResponseHeaders). docs/envoy-versions.md
// lists what this checks, per version.
//
// The ENOSYS versions run without allow_on_headers_stop_iteration (the
// harness's envoy profile cannot hold headers), the newer ones with it, in
// the plugin and in Envoy's PluginConfig alike; the newer ones also run
// ai-proxy-multi without it ("multi_nohold"), against the envoy profile.
func TestHarnessMatchesEnvoy(t *testing.T) {
	forEachEnvoy(t, func(t *testing.T, b envoy.Binary) {
		hold := b.Minor() > 38
		profile := host.Envoy
		if hold {
			profile = host.EnvoyFixed
		}
		d := startDiff(t, b, hold, profile)
		for _, sc := range diffScenarios {
			if _, ok := d.envoyURL[sc.listener]; !ok || sc.holdOnly && !hold {
				continue
			}
			t.Run(sc.name, func(t *testing.T) { d.run(t, sc) })
		}
	})
}

// A diffScenario is one client request to one listener.
type diffScenario struct {
	name, listener, method, path, body string
	holdOnly                           bool // needs allow_on_headers_stop_iteration
	// sigv4: the upstream request is SigV4-signed at a different second on
	// each side; Authorization is compared without its signature and
	// X-Amz-Date by form.
	sigv4 bool
	// randomID: the filter makes up the response's id (Bedrock answers
	// have none), differently on each side.
	randomID bool
}

// The recording upstream answers bodies containing these markers itself.
const (
	markTooMany = "diff-429"    // an OpenAI 429 error
	markBroken5 = "diff-500"    // a 500 with a non-JSON body
	markBroken2 = "diff-broken" // a 200 whose JSON body is not JSON
)

var diffScenarios = []diffScenario{
	{name: "openai chat", listener: "openai", method: "POST", path: "/v1/chat/completions",
		body: `{"model":"gpt-4o","messages":[{"role":"user","content":"hello differential"}],"temperature":0.2}`},
	{name: "openai chat stream", listener: "openai", method: "POST", path: "/v1/chat/completions",
		body: `{"messages":[{"role":"user","content":"stream differential"}],"stream":true,"stream_options":{"include_usage":true}}`},
	{name: "anthropic to openai", listener: "openai", method: "POST", path: "/v1/messages",
		body: `{"model":"claude-sonnet-4-5","max_tokens":100,"system":"be brief","messages":[{"role":"user","content":"Hi differential"}]}`},
	{name: "anthropic to openai stream", listener: "openai", method: "POST", path: "/v1/messages",
		body: `{"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"Stream differential"}]}`},
	{name: "openai to native anthropic", listener: "anthropic", method: "POST", path: "/v1/chat/completions",
		body: `{"model":"gpt-4o","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"to claude"}]}`},
	{name: "openai to native anthropic stream", listener: "anthropic", method: "POST", path: "/v1/chat/completions",
		body: `{"messages":[{"role":"user","content":"stream to claude"}],"stream":true}`},
	{name: "embeddings", listener: "openai", method: "POST", path: "/v1/embeddings",
		body: `{"model":"text-embedding-3-small","input":["one","two"]}`},
	{name: "invalid JSON", listener: "openai", method: "POST", path: "/v1/chat/completions", body: `{"messages":[`},
	{name: "GET on chat", listener: "openai", method: "GET", path: "/v1/chat/completions"},
	{name: "upstream 429", listener: "openai", method: "POST", path: "/v1/chat/completions",
		body: `{"messages":[{"role":"user","content":"` + markTooMany + `"}]}`},
	{name: "upstream 500 not JSON", listener: "openai", method: "POST", path: "/v1/chat/completions",
		body: `{"messages":[{"role":"user","content":"` + markBroken5 + `"}]}`},
	{name: "broken 200 on a converting route", listener: "openai", method: "POST", path: "/v1/messages",
		body: `{"model":"c","max_tokens":10,"messages":[{"role":"user","content":"` + markBroken2 + `"}]}`},
	{name: "bedrock held", listener: "bedrock", method: "POST", path: "/v1/chat/completions", holdOnly: true, sigv4: true, randomID: true,
		body: `{"model":"x","messages":[{"role":"user","content":"to bedrock"}],"max_tokens":50}`},
	{name: "bedrock held stream", listener: "bedrock", method: "POST", path: "/v1/chat/completions", holdOnly: true, sigv4: true, randomID: true,
		body: `{"messages":[{"role":"user","content":"stream from bedrock"}],"stream":true}`},
}

// ai-proxy-multi's fallback (multiInstances: "first" is tried first,
// "second" next). The instances fail as the body's markers say:
// diff-<instance>-<status> answers that status, diff-first-reset resets
// the connection once the request is read. The "multi" listener holds
// the response headers where the version can (allow_on_headers_stop_iteration),
// "multi_nohold" never does (it runs only where "multi" holds); the
// "_refused" ones have first at an address that refuses connections.
func init() {
	for _, l := range []string{"multi", "multi_nohold"} {
		for _, sc := range []struct{ name, listener, body string }{
			{"first 429 then second", l, `{"model":"client","messages":[{"role":"user","content":"diff-first-429"}]}`},
			{"first reset then second", l, `{"model":"client","messages":[{"role":"user","content":"diff-first-reset"}]}`},
			{"first refused then second", l + "_refused", `{"model":"client","messages":[{"role":"user","content":"hi"}]}`},
			{"first 500 then second stream", l, `{"model":"client","stream":true,"messages":[{"role":"user","content":"diff-first-500"}]}`},
			{"first 429 second 503", l, `{"model":"client","messages":[{"role":"user","content":"diff-first-429 diff-second-503"}]}`},
			{"first 429 second reset", l, `{"model":"client","messages":[{"role":"user","content":"diff-first-429 diff-second-reset"}]}`},
			{"both reset", l, `{"model":"client","messages":[{"role":"user","content":"diff-first-reset diff-second-reset"}]}`},
			{"first 401 returned", l, `{"model":"client","messages":[{"role":"user","content":"diff-first-401"}]}`},
		} {
			diffScenarios = append(diffScenarios, diffScenario{name: l + "/" + sc.name, listener: sc.listener,
				method: "POST", path: "/v1/chat/completions", body: sc.body})
		}
		// An Anthropic client: the answers are converted.
		for _, sc := range []struct{ name, body string }{
			{"anthropic client first 429 then second", `{"model":"c","max_tokens":10,"messages":[{"role":"user","content":"diff-first-429"}]}`},
			{"anthropic client first 429 second reset", `{"model":"c","max_tokens":10,"messages":[{"role":"user","content":"diff-first-429 diff-second-reset"}]}`},
		} {
			diffScenarios = append(diffScenarios, diffScenario{name: l + "/" + sc.name, listener: l,
				method: "POST", path: "/v1/messages", body: sc.body})
		}
	}
}

// refusedHost is an instance host the lab sends to a closed port.
const refusedHost = "refused.openai.azure.com"

// Headers Envoy adds to the upstream request and the harness does not:
//   - x-envoy-expected-rq-timeout-ms: the router's timeout for the
//     request, sent to the upstream when it is not 0 (Filter::setTimeoutHeaders
//     in https://github.com/envoyproxy/envoy/blob/main/source/common/router/router.cc).
//     The filter's x-envoy-upstream-rq-timeout-ms: 0 turns it off today,
//     so Envoy sends none in these scenarios.
//
// Both add x-forwarded-proto and x-request-id; x-request-id is a random
// UUID, so only its presence is compared.
var envoyOwnRequestHeaders = []string{"X-Envoy-Expected-Rq-Timeout-Ms"}

// Headers Envoy adds to every client response (the harness's gateway does
// not emulate them; the filter never sees them, they are added by the HCM
// and the router after the filter chain): server (the HCM's server_name)
// and x-envoy-upstream-service-time (the router, for answers that came
// from upstream). Date is the time of each answer.
var envoyOwnResponseHeaders = []string{"Server", "X-Envoy-Upstream-Service-Time", "Date"}

// diff is one Envoy and the harness, each in front of a recording
// upstream of its own (with mocks of their own, so the mocks' counters
// and ids agree).
type diff struct {
	envoyURL, harnessURL map[string]string // by listener
	envoyUp, harnessUp   *recorder
	lab                  *envoy.Lab
}

func startDiff(t *testing.T, b envoy.Binary, hold bool, profile host.Profile) *diff {
	t.Helper()
	d := &diff{lab: envoy.NewLab(t), envoyURL: map[string]string{}, harnessURL: map[string]string{}}
	d.envoyUp, d.harnessUp = newRecorder(t), newRecorder(t)
	for _, h := range []string{"api.openai.com", "api.anthropic.com", "bedrock-runtime.us-east-1.amazonaws.com", firstHost, secondHost} {
		d.lab.Route(h, d.envoyUp.URL)
	}
	// The lab accepts the TLS connection and closes it when the backend
	// refuses: Envoy sees the connection terminated before any response.
	d.lab.Route(refusedHost, refusedAddr)
	holdJSON := ""
	if hold {
		holdJSON = `,"allow_on_headers_stop_iteration":true`
	}
	listeners := []listener{
		// The example's configuration, as shipped but for the hold.
		{name: "openai", noHold: !hold, plugin: `{"provider":"openai","auth":{"header":{"Authorization":"Bearer $env://OPENAI_API_KEY"}},` +
			`"options":{"model":"gpt-4o-mini"},"timeout":60000` + holdJSON + `}`},
		{name: "anthropic", noHold: !hold, plugin: `{"provider":"anthropic","auth":{"header":{"x-api-key":"` + anthropicKey + `"}},` +
			`"override":{"endpoint":"https://api.anthropic.com/v1/messages"},"options":{"model":"claude-sonnet-4-5"}` + holdJSON + `}`},
	}
	if hold {
		listeners = append(listeners, listener{name: "bedrock", plugin: `{"provider":"bedrock","provider_conf":{"region":"us-east-1"},` +
			`"options":{"model":"` + bedrockModel + `"},"auth":{"aws":{"access_key_id":"` + labAWS.AccessKeyID + `","secret_access_key":"` +
			labAWS.SecretAccessKey + `","session_token":"` + labAWS.SessionToken + `"}}` + holdJSON + `}`})
	}
	refused := func(conf string) string { return strings.Replace(conf, firstHost, refusedHost, 1) }
	listeners = append(listeners,
		listener{name: "multi", noHold: !hold, plugin: multiInstances(holdJSON)},
		listener{name: "multi_refused", noHold: !hold, plugin: refused(multiInstances(holdJSON))})
	if hold {
		listeners = append(listeners,
			listener{name: "multi_nohold", noHold: true, plugin: multiInstances("")},
			listener{name: "multi_nohold_refused", noHold: true, plugin: refused(multiInstances(""))})
	}
	r := &rig{lab: d.lab, logDir: t.TempDir()}
	cfg := r.config(t, listeners, []string{firstHost, secondHost, refusedHost})
	e := envoy.Start(t, b, cfg, envoy.Options{Env: exampleEnv, LogLevel: "warning"})

	// The harness gets the plugin configurations exactly as Envoy does
	// (after the lab's substitutions), one gateway per listener, with
	// every provider host mapped to its recording upstream.
	wasm, err := os.ReadFile(envoy.Module(t))
	if err != nil {
		t.Fatal(err)
	}
	noHold := map[string]bool{}
	for _, l := range listeners {
		noHold[l.name] = l.noHold
	}
	for name, plugin := range pluginConfigs(t, cfg) {
		d.envoyURL[name] = "http://" + e.ListenerAddr(t, name)
		// Without allow_on_headers_stop_iteration in its PluginConfig, a
		// newer Envoy too turns a Pause on headers into
		// StopAllIterationAndWatermark, which the envoy profile models.
		p := profile
		if noHold[name] {
			p = host.Envoy
		}
		var conf map[string]any
		if err := json.Unmarshal([]byte(plugin), &conf); err != nil {
			t.Fatal(err)
		}
		gcfg, err := yaml.Marshal(map[string]any{
			"routes": []any{map[string]any{"id": name, "uri": "/*", "plugins": map[string]any{"ai-proxy": conf}}},
			"clusters": map[string]string{
				"api.openai.com": d.harnessUp.URL, "api.anthropic.com": d.harnessUp.URL,
				"bedrock-runtime.us-east-1.amazonaws.com": d.harnessUp.URL,
				firstHost: d.harnessUp.URL, secondHost: d.harnessUp.URL, refusedHost: "http://" + refusedAddr,
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		c, err := harness.ParseConfig(gcfg)
		if err != nil {
			t.Fatal(err)
		}
		g, err := harness.New(context.Background(), wasm, c, harness.Options{
			Profile: p, Workers: 2, Env: map[string]string{"OPENAI_API_KEY": operatorKey},
			BufferFilter: true, // as the example's chain, which the rig keeps
		})
		if err != nil {
			t.Fatal(err)
		}
		s := httptest.NewServer(g)
		t.Cleanup(func() { s.Close(); g.Close() })
		d.harnessURL[name] = s.URL
	}
	return d
}

// pluginConfigs returns each listener's ai-proxy configuration from an
// Envoy config.
func pluginConfigs(t *testing.T, cfg []byte) map[string]string {
	t.Helper()
	var root map[string]any
	if err := yaml.Unmarshal(cfg, &root); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range root["static_resources"].(map[string]any)["listeners"].([]any) {
		lm := l.(map[string]any)
		hcm := lm["filter_chains"].([]any)[0].(map[string]any)["filters"].([]any)[0].(map[string]any)["typed_config"].(map[string]any)
		wasm := findNamed(t, hcm["http_filters"], "envoy.filters.http.wasm")
		pc := wasm["typed_config"].(map[string]any)["config"].(map[string]any)
		out[lm["name"].(string)] = pc["configuration"].(map[string]any)["value"].(string)
	}
	return out
}

// exchange is what one side did with one request.
type exchange struct {
	upstream []recorded
	status   int
	header   http.Header
	body     []byte
	err      error // the client's: a reset stream
}

func (d *diff) run(t *testing.T, sc diffScenario) {
	ex := func(base string, up *recorder) exchange {
		up.reset()
		var e exchange
		e.status, e.header, e.body, e.err = clientDo(base+sc.path, sc.method, sc.body)
		e.upstream = up.requests()
		return e
	}
	got := ex(d.envoyURL[sc.listener], d.envoyUp)
	want := ex(d.harnessURL[sc.listener], d.harnessUp)
	// In Envoy the router opens the upstream request when the filter lets
	// the headers go, before the body (the filter's inline mode continues
	// the headers at once): a request the filter then answers itself (a
	// body that is not JSON) may reach the upstream as headers and a
	// reset, or not at all if the reset wins the connect. The harness
	// forwards only complete requests. Aborted requests are left out.
	got.upstream = completed(t, "Envoy", got.upstream)
	want.upstream = completed(t, "the harness", want.upstream)
	t.Logf("envoy: %d %v, upstream requests %d; harness: %d %v, upstream requests %d",
		got.status, got.err, len(got.upstream), want.status, want.err, len(want.upstream))
	for _, p := range compareExchanges(sc, got, want) {
		t.Errorf("Envoy and the harness differ: %s", p)
	}
}

func completed(t *testing.T, side string, rs []recorded) []recorded {
	return slices.DeleteFunc(rs, func(r recorded) bool {
		if r.incomplete {
			t.Logf("%s sent an upstream request and aborted it: %v", side, r)
		}
		return r.incomplete
	})
}

func clientDo(u, method, body string) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, u, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+clientSecret)
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// compareExchanges lists the differences between Envoy's exchange (got)
// and the harness's (want).
func compareExchanges(sc diffScenario, got, want exchange) []string {
	var out []string
	add := func(f string, a ...any) { out = append(out, fmt.Sprintf(f, a...)) }
	// The upstream request.
	if len(got.upstream) != len(want.upstream) {
		add("upstream requests: Envoy %d, harness %d (Envoy's: %v)", len(got.upstream), len(want.upstream), got.upstream)
	}
	for i := range min(len(got.upstream), len(want.upstream)) {
		g, w := got.upstream[i], want.upstream[i]
		if g.method != w.method || g.uri != w.uri || g.host != w.host {
			add("upstream request line: Envoy %s %s host %s, harness %s %s host %s", g.method, g.uri, g.host, w.method, w.uri, w.host)
		}
		if g.framing() != w.framing() {
			add("upstream body framing: Envoy %s, harness %s", g.framing(), w.framing())
		}
		if !bytes.Equal(g.body, w.body) || g.incomplete != w.incomplete {
			add("upstream body: Envoy (incomplete %v) %q, harness (incomplete %v) %q", g.incomplete, g.body, w.incomplete, w.body)
		}
		for _, p := range compareHeaders(g.header, w.header, envoyOwnRequestHeaders, sc.upstreamValueFree()) {
			add("upstream header %s", p)
		}
		if sc.sigv4 {
			if a, b := sigv4Shape(g.header.Get("Authorization")), sigv4Shape(w.header.Get("Authorization")); a != b {
				add("upstream SigV4 Authorization: Envoy %q, harness %q", a, b)
			}
			for _, h := range []http.Header{g.header, w.header} {
				if !amzDate.MatchString(h.Get("X-Amz-Date")) {
					add("upstream X-Amz-Date %q is not an ISO 8601 basic time", h.Get("X-Amz-Date"))
				}
			}
		}
	}
	// The client response.
	if (got.err != nil) != (want.err != nil) {
		add("client error: Envoy %v, harness %v", got.err, want.err)
	}
	if got.status != want.status {
		add("status: Envoy %d, harness %d", got.status, want.status)
	}
	if got.header != nil && want.header != nil {
		// Content-Length: its presence; the bodies are compared next.
		for _, p := range compareHeaders(got.header, want.header, envoyOwnResponseHeaders, []string{"Content-Length"}) {
			add("response header %s", p)
		}
	}
	// Converted answers carry the filter's clock in "created", which may
	// tick between the two sides.
	got.body = createdTime.ReplaceAll(got.body, []byte(`"created":T`))
	want.body = createdTime.ReplaceAll(want.body, []byte(`"created":T`))
	if sc.randomID {
		got.body = generatedID.ReplaceAll(got.body, []byte("${1}ID"))
		want.body = generatedID.ReplaceAll(want.body, []byte("${1}ID"))
	}
	if !bytes.Equal(got.body, want.body) {
		add("response body:\nEnvoy   %q\nharness %q", got.body, want.body)
	}
	return out
}

// upstreamValueFree are the upstream headers whose values differ by
// nature: only their presence is compared.
func (sc diffScenario) upstreamValueFree() []string {
	free := []string{"X-Request-Id"}
	if sc.sigv4 {
		free = append(free, "Authorization", "X-Amz-Date")
	}
	return free
}

// compareHeaders compares two header sets, skipping the names in own
// (present on one side by design) and the values of valueFree.
func compareHeaders(got, want http.Header, own, valueFree []string) []string {
	var out []string
	names := map[string]bool{}
	for k := range got {
		names[k] = true
	}
	for k := range want {
		names[k] = true
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range names {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		if slices.Contains(own, k) {
			continue
		}
		g, gok := got[k]
		w, wok := want[k]
		switch {
		case gok != wok:
			out = append(out, fmt.Sprintf("%s: Envoy %q, harness %q", k, g, w))
		case !slices.Contains(valueFree, k) && !slices.Equal(g, w):
			out = append(out, fmt.Sprintf("%s: Envoy %q, harness %q", k, g, w))
		}
	}
	return out
}

var (
	createdTime = regexp.MustCompile(`"created":\d+`)
	generatedID = regexp.MustCompile(`("id":"chatcmpl-)[0-9a-z]+`)
	amzDate     = regexp.MustCompile(`^\d{8}T\d{6}Z$`)
	sigv4Sig    = regexp.MustCompile(`(Credential=[^/]+/)\d{8}(/)|Signature=[0-9a-f]{64}`)
)

// sigv4Shape is a SigV4 Authorization value without its date and
// signature: the algorithm, key id, scope and signed headers.
func sigv4Shape(v string) string {
	return sigv4Sig.ReplaceAllString(v, "${1}DATE${2}SIG")
}

// recorded is one request as the recording upstream read it.
type recorded struct {
	method, uri, host string
	header            http.Header
	contentLength     int64
	chunked           bool
	body              []byte
	incomplete        bool // the body ended in an error (an aborted request)
}

func (r recorded) String() string {
	return fmt.Sprintf("%s %s host %s %s %q (incomplete %v)", r.method, r.uri, r.host, r.framing(), r.body, r.incomplete)
}

func (r recorded) framing() string {
	switch {
	case r.chunked:
		return "chunked"
	case r.contentLength >= 0:
		return "content-length"
	}
	return "none"
}

// recorder is a plain-HTTP upstream for every provider host: it records
// each request and answers it with the mock of the request's host, or
// itself for the scenario markers.
type recorder struct {
	URL  string
	mu   sync.Mutex
	reqs []recorded
}

func newRecorder(t *testing.T) *recorder {
	rec := &recorder{}
	openai := mock.NewOpenAI(mock.WithAPIKey(operatorKey))
	anthropic := mock.NewAnthropic(mock.WithAPIKey(anthropicKey))
	bedrock := mock.NewBedrock(mock.WithSigV4(labAWS))
	proxies := map[string]*httputil.ReverseProxy{}
	first, second := mock.NewOpenAI(mock.WithAPIKey("key-first")), mock.NewOpenAI(mock.WithAPIKey("key-second"))
	for host, m := range map[string]*mock.Server{"api.openai.com": openai, "api.anthropic.com": anthropic,
		"bedrock-runtime.us-east-1.amazonaws.com": bedrock, firstHost: first, secondHost: second} {
		t.Cleanup(m.Close)
		u, _ := url.Parse(m.URL)
		proxies[host] = &httputil.ReverseProxy{
			Rewrite:       func(p *httputil.ProxyRequest) { p.SetURL(u); p.Out.Host = p.In.Host },
			FlushInterval: -1,
		}
	}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		chunked := slices.Contains(r.TransferEncoding, "chunked")
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{method: r.Method, uri: r.RequestURI, host: r.Host, header: r.Header.Clone(),
			contentLength: r.ContentLength, chunked: chunked, body: body, incomplete: err != nil})
		rec.mu.Unlock()
		if err != nil {
			return
		}
		switch {
		case bytes.Contains(body, []byte(markTooMany)):
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}`)
			return
		case bytes.Contains(body, []byte(markBroken5)):
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "upstream exploded\n")
			return
		case bytes.Contains(body, []byte(markBroken2)):
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "this is not JSON")
			return
		}
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if instance, _, ok := strings.Cut(host, ".openai.azure.com"); ok && instanceFails(w, instance, body) {
			return
		}
		p, ok := proxies[host]
		if !ok {
			http.Error(w, "no mock for "+r.Host, http.StatusBadGateway)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	rec.URL = s.URL
	return rec
}

// instanceFails answers as the body's diff-<instance>-<mode> marker says,
// if it has one for instance.
func instanceFails(w http.ResponseWriter, instance string, body []byte) bool {
	mark := []byte("diff-" + instance + "-")
	i := bytes.Index(body, mark)
	if i < 0 {
		return false
	}
	mode, _, _ := strings.Cut(string(body[i+len(mark):]), `"`)
	mode, _, _ = strings.Cut(mode, " ")
	switch mode {
	case "reset":
		if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	case "429":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"message":"`+instance+` is rate limited","type":"requests","param":null,"code":"rate_limit_exceeded"}}`)
	case "401":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`)
	default: // a 5xx
		status, err := strconv.Atoi(mode)
		if err != nil {
			status = http.StatusInternalServerError
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, `{"error":{"message":"`+instance+` broke","type":"server_error"}}`)
	}
	return true
}

// refusedAddr is an address nothing listens on.
const refusedAddr = "127.0.0.1:1"

func (r *recorder) reset() {
	r.mu.Lock()
	r.reqs = nil
	r.mu.Unlock()
}

func (r *recorder) requests() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}
