package envoytest

import (
	"bufio"
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/envoy"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

// TestScenarios runs the scenarios of every area (one file each: the
// OpenAI API surface, Anthropic, Bedrock, Vertex AI, local replies and
// upstream errors, access log and metrics, client disconnects, Istio) in
// one Envoy per version, since compiling the module costs seconds per
// start. The areas run one after another: they share the Envoy's stats.
func TestScenarios(t *testing.T) {
	forEachEnvoy(t, func(t *testing.T, b envoy.Binary) {
		r := startRig(t, b)
		for _, area := range []struct {
			name string
			run  func(*testing.T, *rig)
		}{
			{"openai-api", testOpenAIAPI},
			{"anthropic", testAnthropic},
			{"bedrock", testBedrock},
			{"vertex", testVertex},
			{"local-replies", testLocalReplies},
			{"upstream-errors", testUpstreamErrors},
			{"access-log", testAccessLog},
			{"prometheus", testPrometheus},
			{"disconnect", testDisconnect},
			{"timeout", testTimeouts},
			{"istio", testIstio},
			{"multi", testMulti},
		} {
			t.Run(area.name, func(t *testing.T) { area.run(t, r) })
		}
	})
}

// Keys the operator configures; the mocks require them, so a request that
// reaches a mock with anything else fails.
const (
	anthropicKey = "sk-ant-operator"
	vertexModel  = "google/gemini-2.0-flash"
	bedrockModel = "anthropic.claude-3-5-sonnet-20240620-v1:0"
)

var labAWS = mock.AWSCredentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", SessionToken: "session-token-example", Region: "us-east-1"}

// rig is one Envoy running the shipped example's gateway listener several
// times over, one listener per plugin configuration (listener), each with
// its own access-log file, in front of the mocks as the lab's providers.
type rig struct {
	*envoy.Envoy
	lab    *envoy.Lab
	logDir string
	gw     map[string]gateway // by listener name

	openai, anthropic, bedrock, gcp *mock.Server
	// hang records each request the disconnect upstream served, closed
	// once Envoy cancelled it.
	hang chan chan struct{}
	// probe receives the headers of every request carrying X-Lab-Probe
	// that reaches api.openai.com or Bedrock, as soon as they arrive.
	probe chan http.Header
	// tmo is what the timeout listener's upstream saw (timeout_test.go).
	tmo *upstreamLog
	// first, second and weighted are ai-proxy-multi's instances (multi_test.go).
	first            *firstUpstream
	second, weighted *mock.Server
}

// A listener is the example's llm_gateway listener with another plugin
// configuration.
type listener struct {
	name string
	// plugin is the ai-proxy JSON; "" keeps the example's.
	plugin string
	// noHold removes allow_on_headers_stop_iteration from the Envoy
	// PluginConfig, as for Envoy < 1.35 (and Istio, which cannot set it).
	noHold bool
	// noBuffer removes the example's buffer filter, which holds the
	// headers the filter lets pass in callout mode (see testBedrock).
	noBuffer bool
	// istio replaces the example's filter with the WasmPlugin of
	// examples/istio as istiod delivers it (istio_test.go).
	istio bool
}

func startRig(t *testing.T, b envoy.Binary) *rig {
	t.Helper()
	r := &rig{lab: envoy.NewLab(t), logDir: t.TempDir(), gw: map[string]gateway{}, hang: make(chan chan struct{}, 16), probe: make(chan http.Header, 16)}
	r.openai = mock.NewOpenAI(mock.WithAPIKey(operatorKey))
	r.anthropic = mock.NewAnthropic(mock.WithAPIKey(anthropicKey))
	r.bedrock = mock.NewBedrock(mock.WithSigV4(labAWS))
	sa, pub := serviceAccount(t)
	r.gcp = mock.NewGCP(mock.WithJWTKey(pub))
	for _, m := range []*mock.Server{r.openai, r.anthropic, r.bedrock, r.gcp} {
		t.Cleanup(m.Close)
	}
	r.lab.Route("api.openai.com", r.front(t, r.openai, mock.NewOpenAI))
	r.lab.Route("api.anthropic.com", r.front(t, r.anthropic, mock.NewAnthropic))
	r.lab.Route("bedrock-runtime.us-east-1.amazonaws.com", r.front(t, r.bedrock, mock.NewBedrock))
	r.lab.Route("api.deepseek.com", r.timeoutUpstream(t))
	r.lab.Route("oauth2.googleapis.com", r.gcp.URL)
	r.lab.Route("us-central1-aiplatform.googleapis.com", r.gcp.URL)
	r.first = newFirstUpstream(t)
	r.second, r.weighted = mock.NewOpenAI(mock.WithAPIKey("key-second")), mock.NewOpenAI(mock.WithAPIKey("key-second"))
	t.Cleanup(r.second.Close)
	t.Cleanup(r.weighted.Close)
	r.lab.Route(firstHost, r.first.srv.URL)
	r.lab.Route(secondHost, r.second.URL)
	r.lab.Route(weightHost, r.weighted.URL)

	bedrock := func(hold bool) string {
		h := ""
		if hold {
			h = `,"allow_on_headers_stop_iteration":true`
		}
		return `{"provider":"bedrock","provider_conf":{"region":"us-east-1"},"options":{"model":"` + bedrockModel + `"},` +
			`"auth":{"aws":{"access_key_id":"` + labAWS.AccessKeyID + `","secret_access_key":"` + labAWS.SecretAccessKey +
			`","session_token":"` + labAWS.SessionToken + `"}},"logging":{"summaries":true}` + h + `}`
	}
	saJSON, _ := json.Marshal(sa)
	listeners := []listener{
		{name: "llm_gateway"}, // the example as shipped
		{name: "limits", plugin: `{"provider":"openai","auth":{"header":{"Authorization":"Bearer ` + operatorKey + `"}},"max_req_body_size":1024}`},
		{name: "anthropic", plugin: `{"provider":"anthropic","auth":{"header":{"x-api-key":"` + anthropicKey + `"}},` +
			`"override":{"endpoint":"https://api.anthropic.com/v1/messages"},"options":{"model":"claude-sonnet-4-5"},"allow_on_headers_stop_iteration":true}`},
		{name: "bedrock_hold", plugin: bedrock(true)},
		{name: "bedrock_callout", plugin: bedrock(false), noHold: true},
		{name: "bedrock_callout_bare", plugin: bedrock(false), noHold: true, noBuffer: true},
		{name: "vertex", plugin: `{"provider":"vertex-ai","provider_conf":{"project_id":"test-project-123456","region":"us-central1"},` +
			`"auth":{"gcp":{"service_account_json":` + string(saJSON) + `}},"options":{"model":"` + vertexModel + `"},"allow_on_headers_stop_iteration":true}`},
		{name: "istio", istio: true},
		{name: "timeout", plugin: timeoutPlugin},
	}
	listeners = append(listeners, multiListeners()...)
	callouts := append([]string{"bedrock-runtime.us-east-1.amazonaws.com", "oauth2.googleapis.com", "us-central1-aiplatform.googleapis.com"}, multiCallouts...)
	cfg := r.config(t, listeners, callouts)
	start := time.Now()
	r.Envoy = envoy.Start(t, b, cfg, envoy.Options{
		// Access logs reach their files every 10 s by default.
		Args: []string{"--file-flush-interval-msec", "200"},
		Env:  exampleEnv,
	})
	t.Logf("Envoy %s with %d listeners ready in %v", b.Version, len(listeners), time.Since(start).Round(time.Millisecond))
	for _, l := range listeners {
		r.gw[l.name] = gateway{Envoy: r.Envoy, URL: "http://" + r.ListenerAddr(t, l.name)}
	}
	return r
}

// serviceAccount is the throw-away service account of e2e/testdata/gcp and
// its public key, which the GCP mock checks assertions with.
func serviceAccount(t *testing.T) (string, *rsa.PublicKey) {
	t.Helper()
	sa, err := os.ReadFile("../testdata/gcp/service-account.json")
	if err != nil {
		t.Fatal(err)
	}
	p, err := os.ReadFile("../testdata/gcp/service-account.public.pem")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(p)
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return string(sa), pub.(*rsa.PublicKey)
}

// config derives the rig's Envoy config from examples/envoy/envoy.yaml:
// its llm_gateway listener once per listener, each writing its access log
// (the example's format) to a file of its own, and a callout cluster named
// host:443 for each callout host, made like the example's
// api.openai.com:443. Then the lab substitutions (envoy.LabConfig).
func (r *rig) config(t *testing.T, listeners []listener, callouts []string) []byte {
	t.Helper()
	var root map[string]any
	if err := yaml.Unmarshal(example(t, "envoy.yaml"), &root); err != nil {
		t.Fatal(err)
	}
	sr := root["static_resources"].(map[string]any)
	base := findNamed(t, sr["listeners"], "llm_gateway")
	var out []any
	for _, l := range listeners {
		c := clone(t, base)
		c["name"] = l.name
		hcm := c["filter_chains"].([]any)[0].(map[string]any)["filters"].([]any)[0].(map[string]any)["typed_config"].(map[string]any)
		logs := hcm["access_log"].([]any)
		format := logs[0].(map[string]any)["typed_config"].(map[string]any)["log_format"]
		hcm["access_log"] = []any{map[string]any{
			"name": "envoy.access_loggers.file",
			"typed_config": map[string]any{
				"@type":      "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
				"path":       r.accessLogPath(l.name),
				"log_format": format,
			},
		}}
		filters := hcm["http_filters"].([]any)
		wasm := findNamed(t, filters, "envoy.filters.http.wasm")
		pc := wasm["typed_config"].(map[string]any)["config"].(map[string]any)
		if l.plugin != "" {
			pc["name"] = l.name
			pc["configuration"].(map[string]any)["value"] = l.plugin
		}
		if l.noHold {
			delete(pc, "allow_on_headers_stop_iteration")
		}
		if l.noBuffer {
			for i, f := range filters {
				if f.(map[string]any)["name"] == "envoy.filters.http.buffer" {
					filters = append(filters[:i], filters[i+1:]...)
					break
				}
			}
			hcm["http_filters"] = filters
		}
		if l.istio {
			// Subscriptions need a node, as Istio's bootstrap names one.
			root["node"] = map[string]any{"id": "router~127.0.0.1~lab.istio-system~cluster.local", "cluster": "istio-ingressgateway"}
			for i, f := range filters {
				if f.(map[string]any)["name"] == "envoy.filters.http.wasm" {
					filters[i] = istioFilter(t, r.lab, filepath.Join(r.logDir, "ecds.yaml"))
				}
			}
		}
		out = append(out, c)
	}
	sr["listeners"] = out
	tmpl := findNamed(t, sr["clusters"], "api.openai.com:443")
	for _, host := range callouts {
		c := clone(t, tmpl)
		c["name"] = host + ":443"
		la := c["load_assignment"].(map[string]any)
		la["cluster_name"] = c["name"]
		la["endpoints"] = []any{map[string]any{"lb_endpoints": []any{map[string]any{"endpoint": map[string]any{
			"address": map[string]any{"socket_address": map[string]any{"address": host, "port_value": 443}}}}}}}
		c["transport_socket"].(map[string]any)["typed_config"].(map[string]any)["sni"] = host
		sr["clusters"] = append(sr["clusters"].([]any), c)
	}
	b, err := yaml.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := envoy.LabConfig(b, envoy.Module(t), r.lab)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func findNamed(t *testing.T, l any, name string) map[string]any {
	t.Helper()
	items, _ := l.([]any)
	for _, it := range items {
		if m, ok := it.(map[string]any); ok && m["name"] == name {
			return m
		}
	}
	t.Fatalf("examples/envoy/envoy.yaml has no %q", name)
	return nil
}

func clone(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	b, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func (r *rig) accessLogPath(listener string) string {
	return filepath.Join(r.logDir, listener+".access.log")
}

// accessLog waits until listener's access log holds at least n entries
// (Envoy flushes the file about once a second) and returns them.
func (r *rig) accessLog(t *testing.T, listener string, n int) []map[string]string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var entries []map[string]string
		b, _ := os.ReadFile(r.accessLogPath(listener))
		for _, line := range bytes.Split(b, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			var raw map[string]any
			if err := json.Unmarshal(line, &raw); err != nil {
				t.Fatalf("access log line is not JSON: %s", line)
			}
			e := map[string]string{}
			for k, v := range raw {
				e[k] = fmt.Sprint(v)
			}
			entries = append(entries, e)
		}
		if len(entries) >= n {
			return entries
		}
		if time.Now().After(deadline) {
			t.Fatalf("the access log of %s has %d entries after 15 s, want %d", listener, len(entries), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// accessLogEntry waits for the entry of listener's access log whose key
// has value.
func (r *rig) accessLogEntry(t *testing.T, listener, key, value string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		entries := r.accessLog(t, listener, 0)
		for _, e := range entries {
			if e[key] == value {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no entry with %s %q in the access log of %s after 15 s (%d entries)", key, value, listener, len(entries))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitLog waits until Envoy's log matches re, and returns the match.
func (r *rig) waitLog(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(r.Log()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("Envoy's log has nothing matching %s", re)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitStat waits until the counter or gauge name has value want.
func (r *rig) waitStat(t *testing.T, name string, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, ok := r.Stats(t, "^"+regexp.QuoteMeta(name)+"$")[name]
		if ok && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stat %s = %d (present %v), want %d", name, got, ok, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// labStatus makes the front answer a request with that provider's error
// for the status: a prompt containing "lab-status-429" gets a 429.
var labStatus = regexp.MustCompile(`lab-status-(\d{3})`)

// front is the plain-HTTP server the lab routes a provider host to. It
// passes requests to m, except those whose body asks for an error
// (labStatus), which go to a mock of the same kind made with WithStatus,
// and those containing "lab-hang", which get one SSE event and then
// nothing until Envoy cancels them (disconnect_test.go).
func (r *rig) front(t *testing.T, m *mock.Server, kind func(...mock.Option) *mock.Server) string {
	var mu sync.Mutex
	failing := map[int]*mock.Server{}
	proxyTo := func(target string) *httputil.ReverseProxy {
		u, _ := url.Parse(target)
		return &httputil.ReverseProxy{
			Rewrite:       func(p *httputil.ProxyRequest) { p.SetURL(u); p.Out.Host = p.In.Host },
			FlushInterval: -1,
		}
	}
	main := proxyTo(m.URL)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("X-Lab-Probe") != "" {
			h := req.Header.Clone()
			h.Set("X-Lab-Host", req.Host)
			r.probe <- h
		}
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(body, []byte("lab-hang")) {
			r.serveHang(w, req)
			return
		}
		if sm := labStatus.FindSubmatch(body); sm != nil {
			code, _ := strconv.Atoi(string(sm[1]))
			mu.Lock()
			fm := failing[code]
			if fm == nil {
				fm = kind(mock.WithStatus(code, ""))
				failing[code] = fm
				t.Cleanup(fm.Close)
			}
			mu.Unlock()
			proxyTo(fm.URL).ServeHTTP(w, req)
			return
		}
		main.ServeHTTP(w, req)
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// serveHang sends one OpenAI chunk and waits for the request to be
// cancelled (or 20 s), then reports it on r.hang.
func (r *rig) serveHang(w http.ResponseWriter, req *http.Request) {
	done := make(chan struct{})
	r.hang <- done
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	io.WriteString(w, `data: {"id":"chatcmpl-hang","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"first "},"finish_reason":null}]}`+"\n\n")
	http.NewResponseController(w).Flush()
	select {
	case <-req.Context().Done():
		close(done)
	case <-time.After(20 * time.Second):
	}
}

// get sends a GET as a client.
func (g gateway) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+clientSecret)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// sseEvents returns the event names of an SSE body, in order.
func sseEvents(body string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if e, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			out = append(out, e)
		}
	}
	return out
}
