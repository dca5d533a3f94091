package envoy

import (
	"slices"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/gateway"
)

// make run HOST=envoy: every host a route's filter may call out to has a
// cluster of the name the filter dials ("host:port"), a mapped authority
// keeps its local target, and nothing is declared twice.
func TestGatewayConfigCalloutClusters(t *testing.T) {
	cfg, err := gateway.ParseConfig([]byte(`
routes:
  - id: vertex
    uri: /vertex/*
    plugins:
      ai-proxy:
        provider: vertex-ai
        provider_conf: {project_id: p, region: us-central1}
        auth: {gcp: {service_account_json: '{"client_email":"a@b","private_key":"x"}'}}
  - id: bedrock
    uri: /bedrock/*
    plugins:
      ai-proxy:
        provider: bedrock
        provider_conf: {region: eu-west-1}
        auth: {aws: {access_key_id: a, secret_access_key: b}}
  - id: compatible
    uri: /local/*
    plugins:
      ai-proxy:
        provider: openai-compatible
        override: {endpoint: "http://127.0.0.1:8089/v1/chat/completions"}
        auth: {header: {Authorization: Bearer k}}
  - id: openai
    uri: /v1/chat/completions
    plugins:
      ai-proxy: {provider: openai, auth: {header: {Authorization: Bearer k}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := GatewayConfig(cfg, GatewayOptions{Module: "/m.wasm", Listen: "127.0.0.1:9080",
		Targets: map[string]string{"api.openai.com": "http://127.0.0.1:18001"}})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		StaticResources struct {
			Clusters []struct{ Name string } `yaml:"clusters"`
		} `yaml:"static_resources"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range doc.StaticResources.Clusters {
		names = append(names, c.Name)
	}
	for _, want := range []string{
		"us-central1-aiplatform.googleapis.com:443", "oauth2.googleapis.com:443",
		"bedrock-runtime.eu-west-1.amazonaws.com:443", "127.0.0.1:8089", "api.openai.com:443",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("no cluster %q among %q", want, names)
		}
	}
	slices.Sort(names)
	if len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("a cluster is declared twice: %q", names)
	}
}
