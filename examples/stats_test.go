package examples

import (
	"context"
	"io"
	"regexp"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host/hosttest"
)

// The example's stats_tags must find the labels in the metric names the
// filter really defines (Envoy's tag regexes are RE2, as Go's).
func TestEnvoyStatsTagsMatchFilterMetrics(t *testing.T) {
	var b bootstrapv3.Bootstrap
	if err := protojson.Unmarshal(yamlDocs(t, "envoy/envoy.yaml")[0], &b); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mod, err := host.Compile(ctx, hosttest.Filter(t))
	if err != nil {
		t.Fatal(err)
	}
	shared := host.NewShared()
	vm, err := mod.NewVM(ctx, host.VMConfig{Profile: host.EnvoyFixed, Shared: shared, Env: envoyVMEnv(&b)})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	p, err := vm.NewPlugin([]byte(envoyPluginConfigs(t, &b)[0]))
	if err != nil {
		t.Fatal(err)
	}
	up := func(context.Context, *host.UpstreamRequest) (*host.UpstreamResponse, error) {
		return &host.UpstreamResponse{Status: 200, Header: [][2]string{{"content-type", "application/json"}},
			Body: io.NopCloser(strings.NewReader(`{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`))}, nil
	}
	if _, err := p.Do(ctx, &host.Request{Method: "POST", Path: "/v1/chat/completions", Header: [][2]string{{"content-type", "application/json"}},
		Body: []byte(`{"messages":[{"role":"user","content":"hi"}]}`)}, host.Options{Upstream: up}); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"wasmcustom.llm_requests_total.provider.openai.model.gpt-4o-mini.status.2xx": {"provider": "openai", "model": "gpt-4o-mini", "status": "2xx"},
		"wasmcustom.llm_tokens_total.provider.openai.model.gpt-4o-mini.kind.prompt":  {"provider": "openai", "model": "gpt-4o-mini", "kind": "prompt"},
	}
	metrics := shared.Metrics()
	for name, tags := range want {
		if _, ok := metrics[name]; !ok {
			t.Fatalf("the filter did not define %s; it defined %v", name, keys(metrics))
		}
		got := map[string]string{}
		for _, tag := range b.GetStatsConfig().GetStatsTags() {
			m := regexp.MustCompile(tag.GetRegex()).FindStringSubmatch(name)
			if len(m) == 3 {
				got[tag.GetTagName()] = m[2]
			}
		}
		for k, v := range tags {
			if got[k] != v {
				t.Errorf("%s: tag %s = %q, want %q (all %v)", name, k, got[k], v, got)
			}
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
