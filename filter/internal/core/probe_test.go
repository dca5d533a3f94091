package core

import (
	"slices"
	"strings"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/filter/internal/proxywasm"
)

// healthRig is an ai-proxy-multi plugin over instances "a" (checked) and
// "b", on a fake root whose clock the test moves.
type healthRig struct {
	t    *testing.T
	p    *Plugin
	root *fakeRoot
}

const healthConf = `{"instances":[
 {"name":"a","provider":"openai-compatible","weight":1,"auth":{"header":{"Authorization":"Bearer key-a"},"query":{"key":"q a"}},
  "override":{"endpoint":"http://a.test:8080/v1/chat/completions"},
  "checks":{"active":{"http_path":"/health?deep=1","req_headers":["X-Probe: yes"],"timeout":2,
   "healthy":{"successes":2,"interval":1},"unhealthy":{"http_failures":2,"interval":3}}}},
 {"name":"b","provider":"openai-compatible","weight":1,"auth":{"header":{"Authorization":"Bearer key-b"}},
  "override":{"endpoint":"http://b.test/v1/chat/completions"}}]`

func newHealthRig(t *testing.T, conf string, caps Caps, store *proxywasm.MemStore) *healthRig {
	t.Helper()
	mc, err := ParsePluginConfig([]byte(conf), nil)
	if err != nil {
		t.Fatal(err)
	}
	root := newFakeRoot()
	root.shared = store
	return &healthRig{t: t, p: NewMultiPlugin(mc, caps, root), root: root}
}

func (r *healthRig) advance(ms int64) { r.root.now += ms * 1e6 }

// answer answers the last root callout with status.
func (r *healthRig) answer(status string, body string) {
	r.t.Helper()
	c := r.root.calls[len(r.root.calls)-1]
	r.p.OnCallResponse(c.id, [][2]string{{":status", status}}, []byte(body), true)
}

// request sends one chat request and answers it with status and headers,
// returning the instance it went to and its llm_instance_health.
func (r *healthRig) request(status string, headers ...[2]string) (instance, health string) {
	r.t.Helper()
	h := newFakeHost(clientHeaders("/v1/chat/completions")...)
	h.now = r.root.now
	s := r.p.NewStream(h)
	sendRequest(r.t, s, h, multiBody)
	if h.local != nil {
		return "503", ""
	}
	s.OnResponseHeaders(append([][2]string{{":status", status}, {"content-type", "application/json"}}, headers...), true)
	s.OnDone()
	return h.props["llm_instance"], h.props[healthProperty]
}

// picks sends n successful requests and lists the instances they went to.
func (r *healthRig) picks(n int) string {
	var b strings.Builder
	for range n {
		inst, _ := r.request("200")
		b.WriteString(inst)
	}
	return b.String()
}

// The probe goes to the instance's cluster from the root context on a
// tick, with checks.active's path, method and headers, and the instance's
// auth.header and auth.query, as APISIX's construct_upstream adds them.
func TestProbeRequest(t *testing.T) {
	r := newHealthRig(t, healthConf+`}`, envoyCaps, nil)
	if r.root.tick == 0 || r.root.tick > healthTickMS {
		t.Fatalf("tick period %d, want at most %d while checks run", r.root.tick, healthTickMS)
	}
	r.p.OnTick()
	if len(r.root.calls) != 1 {
		t.Fatalf("%d probes, want 1 (b has no checks)", len(r.root.calls))
	}
	c := r.root.calls[0]
	want := [][2]string{{":method", "GET"}, {":path", "/health?deep=1&key=q+a"}, {":authority", "a.test:8080"},
		{"x-probe", "yes"}, {"authorization", "Bearer key-a"}}
	if c.cluster != "a.test:8080" || !slices.Equal(c.headers, want) || c.timeoutMS != 2000 {
		t.Fatalf("probe to %q, headers %v, timeout %d; want a.test:8080, %v, 2000", c.cluster, c.headers, c.timeoutMS, want)
	}
	r.answer("200", "")
	r.p.OnTick()
	if len(r.root.calls) != 1 {
		t.Fatal("a second probe went out before healthy.interval")
	}
	r.advance(1000)
	r.p.OnTick()
	if len(r.root.calls) != 2 {
		t.Fatal("no probe once healthy.interval passed")
	}
}

// Probe failures take the instance out after unhealthy.http_failures and
// successes bring it back after healthy.successes; requests follow, and
// the gauge says so.
func TestActiveChecksFlipOutAndBackIn(t *testing.T) {
	r := newHealthRig(t, healthConf+`}`, envoyCaps, nil)
	if got := r.picks(4); got != "abab" {
		t.Fatalf("picks %s before any probe", got)
	}
	gauge := "llm_instance_health.instance.a"
	for i, status := range []string{"500", "500"} {
		r.p.OnTick()
		r.answer(status, "")
		r.advance(1000)
		if out := r.picks(4) == "bbbb"; out != (i == 1) {
			t.Fatalf("after %d failed probes: out %v", i+1, out)
		}
	}
	if r.root.gauges[gauge] != 0 {
		t.Fatalf("gauge %v, want 0 while out", r.root.gauges)
	}
	r.p.OnTick()
	if len(r.root.calls) != 2 {
		t.Fatal("an unhealthy instance was probed before unhealthy.interval (3 s)")
	}
	for i := range 2 {
		r.advance(3000)
		r.p.OnTick()
		r.answer("200", "")
		if in := strings.Contains(r.picks(4), "a"); in != (i == 1) {
			t.Fatalf("after %d good probes: in %v", i+1, in)
		}
	}
	if r.root.gauges[gauge] != 1 {
		t.Fatalf("gauge %v, want 1 once back", r.root.gauges)
	}
}

// Timeouts and connection failures count as APISIX counts them: Envoy
// answers them with its own 504 and 503.
func TestProbeTimeoutsAndConnectFailures(t *testing.T) {
	conf := strings.Replace(healthConf, `"unhealthy":{"http_failures":2,"interval":3}`, `"unhealthy":{"tcp_failures":1,"timeouts":1,"interval":1}`, 1)
	for _, tt := range []struct {
		name    string
		afterMS int64
		status  string
		body    string
	}{
		{"connect failure", 10, "503", "upstream connect error or disconnect/reset before headers. reset reason: connection failure"},
		{"timeout", 2000, "504", "upstream request timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newHealthRig(t, conf+`}`, envoyCaps, nil)
			r.p.OnTick()
			r.advance(tt.afterMS)
			r.answer(tt.status, tt.body)
			r.advance(1)
			if got := r.picks(2); got != "bb" {
				t.Fatalf("picks %s, want a out after one %s", got, tt.name)
			}
		})
	}
	r := newHealthRig(t, conf+`}`, envoyCaps, nil)
	r.root.refuse = true
	r.p.OnTick()
	if r.advance(1); r.picks(2) != "bb" || !slices.ContainsFunc(r.root.logs, func(l string) bool { return strings.Contains(l, "refused the health probe") }) {
		t.Fatalf("a refused probe should count as a connection failure and be logged: %v", r.root.logs)
	}
}

// Two workers sharing data: one probe per due interval whoever ticks, and
// both see the result.
func TestOneProberAcrossWorkers(t *testing.T) {
	var shared proxywasm.MemStore
	w1 := newHealthRig(t, healthConf+`}`, envoyCaps, &shared)
	w2 := newHealthRig(t, healthConf+`}`, envoyCaps, &shared)
	for range 2 { // unhealthy.http_failures
		w1.p.OnTick()
		w2.p.OnTick()
		if n := len(w1.root.calls) + len(w2.root.calls); n != 1 {
			t.Fatalf("%d probes in flight, want 1", n)
		}
		w1.answer("500", "")
		w1.root.calls = nil
		w1.advance(1000)
		w2.advance(1000)
	}
	if got := w2.picks(2); got != "bb" {
		t.Fatalf("worker 2 picks %s, want worker 1's probes to have taken a out", got)
	}
}

// A 429 with Retry-After puts the instance on cooldown for that long; with
// fallback_strategy instance_health_and_rate_limiting it is skipped
// meanwhile. The access log shows the health.
func TestPassiveCooldown(t *testing.T) {
	const conf = `{"instances":[
 {"name":"a","provider":"openai-compatible","weight":1,"auth":{"header":{"Authorization":"Bearer key-a"}},"override":{"endpoint":"http://a.test/v1/chat/completions"}},
 {"name":"b","provider":"openai-compatible","weight":1,"auth":{"header":{"Authorization":"Bearer key-b"}},"override":{"endpoint":"http://b.test/v1/chat/completions"}}]`

	r := newHealthRig(t, conf+`,"fallback_strategy":"instance_health_and_rate_limiting"}`, envoyCaps, nil)
	if r.root.tick != 0 {
		t.Fatalf("tick period %d without active checks", r.root.tick)
	}
	if inst, health := r.request("429", [2]string{"retry-after", "30"}); inst != "a" || health != "cooldown" {
		t.Fatalf("first request: %s %s", inst, health)
	}
	r.advance(healthSyncMS)
	if got := r.picks(4); got != "bbbb" {
		t.Fatalf("picks %s during the cooldown", got)
	}
	r.advance(5000) // past any backoff without Retry-After
	if got := r.picks(2); got != "bb" {
		t.Fatalf("picks %s 5 s into a 30 s Retry-After", got)
	}
	r.advance(25000)
	if got := r.picks(2); !strings.Contains(got, "a") {
		t.Fatalf("picks %s after Retry-After", got)
	}

	// Without the strategy, the cooldown is recorded and shown, not acted on.
	r = newHealthRig(t, conf+`}`, envoyCaps, nil)
	r.request("503")
	r.advance(healthSyncMS)
	if inst, health := r.request("200"); inst != "b" || health != "healthy" {
		t.Fatalf("b: %s %s", inst, health)
	}
	if inst, health := r.request("200"); inst != "a" || health != "healthy" {
		t.Fatalf("a is picked without the strategy, and its success ends the cooldown: %s %s", inst, health)
	}
}

// On a host without ticks (APISIX) the active checks are reported at
// configure time and nothing is probed.
func TestChecksWithoutTicks(t *testing.T) {
	r := newHealthRig(t, healthConf+`}`, apisixCaps, nil)
	if len(r.root.logs) != 1 || !strings.Contains(r.root.logs[0], "instances[0].checks.active is not supported on this host") {
		t.Fatalf("logs %q", r.root.logs)
	}
	if r.root.tick != 0 || len(r.root.calls) != 0 {
		t.Fatal("ticks or probes on a host without ticks")
	}
}

// When the active checks take every instance out, APISIX uses them all
// ("all upstream nodes is unhealthy, use default"): so does the filter,
// and the access log says the instance was unhealthy.
func TestAllUnhealthyUsesAll(t *testing.T) {
	checks := `,"checks":{"active":{"unhealthy":{"http_failures":1}}}}`
	conf := `{"instances":[
 {"name":"a","provider":"openai-compatible","weight":1,"auth":{"header":{"Authorization":"Bearer key-a"}},"override":{"endpoint":"http://a.test/v1/chat/completions"}` + checks + `,
 {"name":"b","provider":"openai-compatible","weight":1,"auth":{"header":{"Authorization":"Bearer key-b"}},"override":{"endpoint":"http://b.test/v1/chat/completions"}` + checks + `]}`
	r := newHealthRig(t, conf, envoyCaps, nil)
	r.p.OnTick()
	r.p.OnCallResponse(r.root.calls[0].id, [][2]string{{":status", "500"}}, nil, true)
	r.advance(healthSyncMS)
	if got := r.picks(2); got != "bb" {
		t.Fatalf("picks %s with a out", got)
	}
	r.p.OnCallResponse(r.root.calls[1].id, [][2]string{{":status", "500"}}, nil, true)
	r.advance(healthSyncMS)
	if got := r.picks(4); got != "abab" && got != "baba" {
		t.Fatalf("picks %s with every instance out, want both used", got)
	}
	if _, health := r.request("200"); health != "unhealthy" {
		t.Fatalf("llm_instance_health %q, want unhealthy", health)
	}
}
