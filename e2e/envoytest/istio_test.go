package envoytest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
	"gopkg.in/yaml.v3"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/envoy"
)

// wasmFilterType is the type istiod puts on a WasmPlugin's filter.
const wasmFilterType = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"

// istioFilter renders examples/istio/wasmplugin.yaml the way Istio does
// and returns the HTTP filter that refers to it; the rendered extension
// config goes to ecdsPath. From istio/istio:
//
//   - pilot/pkg/model/extensions.go (buildPluginConfig, buildVMConfig): the
//     PluginConfig is named <namespace>.<name>, root_id is spec.pluginName
//     (empty here), configuration is a google.protobuf.StringValue holding
//     pluginConfig as JSON, vm_config has runtime envoy.wasm.runtime.v8,
//     the code, environment key_values ISTIO_META_WASM_IMAGE_PULL_POLICY
//     (when imagePullPolicy is set) and ISTIO_META_WASM_PLUGIN_RESOURCE_VERSION,
//     and no vm_id; failStrategy FAIL_CLOSE becomes failure_policy
//     FAIL_CLOSED (Istio ≥ 1.25; fail_open: false before). Nothing sets
//     allow_on_headers_stop_iteration.
//   - pilot/pkg/networking/core/extension/wasmplugin.go (toEnvoyHTTPFilter):
//     the listener gets an HTTP filter named
//     extensions.istio.io/wasmplugin/<namespace>.<name> whose config comes
//     by extension config discovery (ECDS) from ADS, initial_fetch_timeout
//     0, type URLs Wasm and RBAC. Phase AUTHN puts it before Istio's authn
//     filter, so on a gateway without other Istio filters it is first, as
//     here, before the routing filters.
//   - pkg/wasm/convert.go: the istio-agent downloads the oci:// module and
//     rewrites code.remote to code.local.filename before Envoy sees it.
//
// The lab changes only the config source, a file instead of ADS, and the
// module path (envoy.LabConfig, which also adds the lab port when it is
// not 443).
func istioFilter(t *testing.T, lab *envoy.Lab, ecdsPath string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("../../examples/istio/wasmplugin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var wp struct {
		Metadata struct{ Name, Namespace string }
		Spec     struct {
			PluginName      string         `yaml:"pluginName"`
			Phase           string         `yaml:"phase"`
			FailStrategy    string         `yaml:"failStrategy"`
			ImagePullPolicy string         `yaml:"imagePullPolicy"`
			PluginConfig    map[string]any `yaml:"pluginConfig"`
			VMConfig        struct {
				Env []struct {
					Name, Value string
					ValueFrom   string `yaml:"valueFrom"`
				}
			} `yaml:"vmConfig"`
		}
	}
	if err := yaml.NewDecoder(bytes.NewReader(raw)).Decode(&wp); err != nil {
		t.Fatal(err)
	}
	if wp.Spec.Phase != "AUTHN" {
		t.Fatalf("examples/istio/wasmplugin.yaml: phase %q; this test places the filter as AUTHN does", wp.Spec.Phase)
	}
	conf, err := json.Marshal(wp.Spec.PluginConfig)
	if err != nil {
		t.Fatal(err)
	}
	name := wp.Metadata.Namespace + "." + wp.Metadata.Name
	env := map[string]any{"ISTIO_META_WASM_PLUGIN_RESOURCE_VERSION": "1"}
	if wp.Spec.ImagePullPolicy != "" {
		env["ISTIO_META_WASM_IMAGE_PULL_POLICY"] = wp.Spec.ImagePullPolicy
	}
	// buildVMConfig: valueFrom HOST names a variable of the proxy's own
	// environment (host_env_keys); INLINE (the default) carries its value.
	var hostKeys []any
	for _, e := range wp.Spec.VMConfig.Env {
		if e.ValueFrom == "HOST" {
			hostKeys = append(hostKeys, e.Name)
		} else {
			env[e.Name] = e.Value
		}
	}
	vars := map[string]any{"key_values": env}
	if hostKeys != nil {
		vars["host_env_keys"] = hostKeys
	}
	plugin := map[string]any{
		"name":          name,
		"configuration": map[string]any{"@type": "type.googleapis.com/google.protobuf.StringValue", "value": string(conf)},
		"vm_config": map[string]any{
			"runtime":               "envoy.wasm.runtime.v8",
			"code":                  map[string]any{"local": map[string]any{"filename": "module.wasm"}},
			"environment_variables": vars,
		},
	}
	if wp.Spec.PluginName != "" {
		plugin["root_id"] = wp.Spec.PluginName
	}
	switch wp.Spec.FailStrategy {
	case "", "FAIL_CLOSE":
		plugin["failure_policy"] = "FAIL_CLOSED"
	case "FAIL_OPEN":
		plugin["failure_policy"] = "FAIL_OPEN"
	default:
		t.Fatalf("failStrategy %q", wp.Spec.FailStrategy)
	}
	resource := "extensions.istio.io/wasmplugin/" + name
	doc, err := yaml.Marshal(map[string]any{"resources": []any{map[string]any{
		"@type":        "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
		"name":         resource,
		"typed_config": map[string]any{"@type": wasmFilterType, "config": plugin},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	doc, err = envoy.LabConfig(doc, envoy.Module(t), lab)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ecdsPath, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	return map[string]any{
		"name": resource,
		"config_discovery": map[string]any{
			"config_source": map[string]any{
				"path_config_source":    map[string]any{"path": filepath.Clean(ecdsPath)},
				"resource_api_version":  "V3",
				"initial_fetch_timeout": "0s",
			},
			"type_urls": []any{wasmFilterType, "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"},
		},
	}
}

// testIstio: a chat request through the WasmPlugin as istiod renders it
// reaches OpenAI with the operator's key and the pluginConfig's model.
func testIstio(t *testing.T, r *rig) {
	r.openai.Reset()
	resp, body := r.gw["istio"].post(t, "/v1/chat/completions", `{"messages":[{"role":"user","content":"via istio"}]}`)
	if resp.StatusCode != 200 || gjson.Get(body, "choices.0.message.content").String() != "You said: via istio" {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	up := onlyRequest(t, r.openai)
	if up.Path != "/v1/chat/completions" || up.Get("model").String() != "gpt-4o-mini" {
		t.Errorf("upstream got %s model %q", up.Path, up.Get("model"))
	}
	checkAuth(t, up.Header)
	// The plugin is the one named as Istio names it, with its own VM (no vm_id).
	if !strings.Contains(r.Log(), "istio-system.ai-proxy") {
		t.Errorf("Envoy's log never names the plugin istio-system.ai-proxy")
	}
}
