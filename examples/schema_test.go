package examples

import (
	"encoding/json"
	"maps"
	"os"
	"regexp"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/dynamic_forward_proxy/v3"
	bufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/buffer/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_forward_proxy/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"gopkg.in/yaml.v3"
	extensionsv1alpha1 "istio.io/api/extensions/v1alpha1"
	networkingv1 "istio.io/api/networking/v1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// yamlDocs reads a YAML file as JSON documents (protojson's input).
func yamlDocs(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var docs [][]byte
	for {
		var v any
		if err := dec.Decode(&v); err != nil {
			if err.Error() == "EOF" {
				return docs
			}
			t.Fatalf("%s: %v", path, err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, b)
	}
}

type validator interface{ ValidateAll() error }

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// validateDeep runs Envoy's protoc-gen-validate rules on m and on every
// message packed in an Any below it (typed_config), which ValidateAll alone
// does not open.
func validateDeep(t *testing.T, where string, m proto.Message) {
	t.Helper()
	if v, ok := m.(validator); ok {
		if err := v.ValidateAll(); err != nil {
			t.Errorf("%s: %v", where, err)
		}
	}
	var walk func(protoreflect.Message, string)
	walk = func(rm protoreflect.Message, path string) {
		rm.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
				return true
			}
			visit := func(mv protoreflect.Message, p string) {
				if a, ok := mv.Interface().(*anypb.Any); ok {
					inner, err := a.UnmarshalNew()
					if err != nil {
						t.Errorf("%s: %v", p, err)
						return
					}
					validateDeep(t, p+"("+a.TypeUrl+")", inner)
					return
				}
				walk(mv, p)
			}
			switch {
			case fd.IsList():
				l := v.List()
				for i := 0; i < l.Len(); i++ {
					visit(l.Get(i).Message(), path+"."+string(fd.Name()))
				}
			case fd.IsMap():
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					if fd.MapValue().Kind() == protoreflect.MessageKind {
						visit(mv.Message(), path+"."+string(fd.Name())+"["+k.String()+"]")
					}
					return true
				})
			default:
				visit(v.Message(), path+"."+string(fd.Name()))
			}
			return true
		})
	}
	walk(m.ProtoReflect(), where)
}

// envoyPluginConfigs returns the ai-proxy configurations inside every wasm
// filter of an Envoy bootstrap.
func envoyPluginConfigs(t *testing.T, b *bootstrapv3.Bootstrap) []string {
	var out []string
	for _, w := range envoyWasmFilters(b) {
		var sv wrapperspb.StringValue
		if err := w.GetConfig().GetConfiguration().UnmarshalTo(&sv); err != nil {
			t.Errorf("wasm configuration must be a StringValue: %v", err)
		}
		out = append(out, sv.Value)
	}
	return out
}

// envoyVMEnv is the environment the first wasm filter of an Envoy
// bootstrap gives its VM (vm_config.environment_variables).
func envoyVMEnv(b *bootstrapv3.Bootstrap) map[string]string {
	ev := envoyWasmFilters(b)[0].GetConfig().GetVmConfig().GetEnvironmentVariables()
	return hostEnv(maps.Clone(ev.GetKeyValues()), ev.GetHostEnvKeys()...)
}

// envoyWasmFilters returns every wasm filter of an Envoy bootstrap.
func envoyWasmFilters(b *bootstrapv3.Bootstrap) []*wasmfilterv3.Wasm {
	var out []*wasmfilterv3.Wasm
	var walk func(protoreflect.Message)
	walk = func(rm protoreflect.Message) {
		if w, ok := rm.Interface().(*wasmfilterv3.Wasm); ok {
			out = append(out, w)
			return
		}
		rm.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if fd.Kind() != protoreflect.MessageKind {
				return true
			}
			each := func(mv protoreflect.Message) {
				if a, ok := mv.Interface().(*anypb.Any); ok {
					if inner, err := a.UnmarshalNew(); err == nil {
						walk(inner.ProtoReflect())
					}
					return
				}
				walk(mv)
			}
			if fd.IsList() {
				for i := 0; i < v.List().Len(); i++ {
					each(v.List().Get(i).Message())
				}
			} else if !fd.IsMap() {
				each(v.Message())
			}
			return true
		})
	}
	walk(b.ProtoReflect())
	return out
}

func TestEnvoyExampleMatchesEnvoyAPI(t *testing.T) {
	docs := yamlDocs(t, "envoy/envoy.yaml")
	if len(docs) != 1 {
		t.Fatalf("want one bootstrap document, got %d", len(docs))
	}
	var b bootstrapv3.Bootstrap
	if err := protojson.Unmarshal(docs[0], &b); err != nil {
		t.Fatalf("envoy.yaml is not an Envoy v3 Bootstrap: %v", err)
	}
	validateDeep(t, "bootstrap", &b)
	confs := envoyPluginConfigs(t, &b)
	if len(confs) != 1 {
		t.Fatalf("want one wasm filter, found %d", len(confs))
	}
	checkPluginConfig(t, "envoy.yaml", []byte(confs[0]), envoyVMEnv(&b))
	// Callout mode needs the request held after the filter until the body
	// is complete (README "How a request reaches the provider").
	for _, l := range b.GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, nf := range fc.GetFilters() {
				var hcm hcmv3.HttpConnectionManager
				if nf.GetTypedConfig().UnmarshalTo(&hcm) != nil {
					continue
				}
				fs := hcm.GetHttpFilters()
				for i, f := range fs {
					if f.Name == "envoy.filters.http.wasm" && (i+1 == len(fs) || fs[i+1].Name != "envoy.filters.http.buffer") {
						t.Errorf("listener %s: envoy.filters.http.buffer must follow the wasm filter", l.Name)
					}
				}
			}
		}
	}
	if !strings.Contains(string(docs[0]), "%FILTER_STATE(wasm.llm_prompt_tokens:PLAIN)%") {
		t.Error("the access log must show the filter-state format")
	}
}

func TestIstioExampleMatchesIstioAPI(t *testing.T) {
	docs := yamlDocs(t, "istio/wasmplugin.yaml")
	kinds := map[string]bool{}
	wasmFilterName := ""
	for _, d := range docs {
		var obj struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct{ Name, Namespace string }
			Spec       json.RawMessage `json:"spec"`
		}
		if err := json.Unmarshal(d, &obj); err != nil {
			t.Fatal(err)
		}
		if obj.Kind == "WasmPlugin" {
			// pilot/pkg/networking/core/extension/wasmplugin.go in istio/istio
			wasmFilterName = "extensions.istio.io/wasmplugin/" + obj.Metadata.Namespace + "." + obj.Metadata.Name
		}
		kinds[obj.Kind] = true
		switch obj.Kind {
		case "WasmPlugin":
			if obj.APIVersion != "extensions.istio.io/v1alpha1" {
				t.Errorf("WasmPlugin apiVersion %q", obj.APIVersion)
			}
			var wp extensionsv1alpha1.WasmPlugin
			if err := protojson.Unmarshal(obj.Spec, &wp); err != nil {
				t.Fatalf("not an Istio WasmPlugin spec: %v", err)
			}
			if !strings.HasPrefix(wp.Url, "oci://") && !strings.HasPrefix(wp.Url, "https://") {
				t.Errorf("url %q", wp.Url)
			}
			// Istio compares sha256 with the hex of the manifest digest
			// (oci://) or of the module (https://): docs/oci.md.
			if !sha256Hex.MatchString(wp.Sha256) {
				t.Errorf("sha256 %q: the example must pin the module with 64 lower-case hex digits", wp.Sha256)
			}
			conf, err := protojson.Marshal(wp.PluginConfig)
			if err != nil {
				t.Fatal(err)
			}
			env := map[string]string{}
			for _, e := range wp.GetVmConfig().GetEnv() {
				if e.GetValueFrom() == extensionsv1alpha1.EnvValueSource_HOST {
					hostEnv(env, e.GetName())
				} else {
					env[e.GetName()] = e.GetValue()
				}
			}
			checkPluginConfig(t, "wasmplugin.yaml", conf, env)
		case "EnvoyFilter":
			checkBufferEnvoyFilter(t, obj.Spec, wasmFilterName)
		case "ServiceEntry":
			var se networkingv1.ServiceEntry
			if err := protojson.Unmarshal(obj.Spec, &se); err != nil {
				t.Fatalf("not an Istio ServiceEntry spec: %v", err)
			}
		default:
			t.Errorf("unexpected kind %q", obj.Kind)
		}
	}
	if !kinds["WasmPlugin"] {
		t.Error("no WasmPlugin in the Istio example")
	}
	if !kinds["EnvoyFilter"] {
		t.Error("no EnvoyFilter putting the buffer filter after the WasmPlugin: callout mode needs it")
	}
}

// checkBufferEnvoyFilter checks an EnvoyFilter that inserts Envoy's buffer
// filter right after the WasmPlugin's filter named wasmFilter, on the
// gateway, with a valid Buffer config.
func checkBufferEnvoyFilter(t *testing.T, spec []byte, wasmFilter string) {
	t.Helper()
	var ef networkingv1alpha3.EnvoyFilter
	if err := protojson.Unmarshal(spec, &ef); err != nil {
		t.Fatalf("not an Istio EnvoyFilter spec: %v", err)
	}
	if len(ef.ConfigPatches) != 1 {
		t.Fatalf("want one patch, got %d", len(ef.ConfigPatches))
	}
	p := ef.ConfigPatches[0]
	sub := p.GetMatch().GetListener().GetFilterChain().GetFilter().GetSubFilter().GetName()
	if p.ApplyTo != networkingv1alpha3.EnvoyFilter_HTTP_FILTER || p.GetPatch().GetOperation() != networkingv1alpha3.EnvoyFilter_Patch_INSERT_AFTER || sub != wasmFilter {
		t.Fatalf("patch %v %v after %q, want HTTP_FILTER INSERT_AFTER %q", p.ApplyTo, p.GetPatch().GetOperation(), sub, wasmFilter)
	}
	if p.GetMatch().GetContext() != networkingv1alpha3.EnvoyFilter_GATEWAY {
		t.Errorf("context %v, want GATEWAY like the WasmPlugin's selector", p.GetMatch().GetContext())
	}
	raw, err := protojson.Marshal(p.GetPatch().GetValue())
	if err != nil {
		t.Fatal(err)
	}
	var f hcmv3.HttpFilter
	if err := protojson.Unmarshal(raw, &f); err != nil {
		t.Fatalf("patch value is not an Envoy HttpFilter: %v", err)
	}
	var b bufferv3.Buffer
	if f.Name != "envoy.filters.http.buffer" || f.GetTypedConfig().UnmarshalTo(&b) != nil {
		t.Fatalf("patch inserts %q %v, want envoy.filters.http.buffer", f.Name, f.GetTypedConfig().GetTypeUrl())
	}
	validateDeep(t, "buffer filter", &f)
}

func TestAPISIXExample(t *testing.T) {
	raw, err := os.ReadFile("apisix/route.json")
	if err != nil {
		t.Fatal(err)
	}
	var route struct {
		URI     string                     `json:"uri"`
		Plugins map[string]json.RawMessage `json:"plugins"`
	}
	if err := json.Unmarshal(raw, &route); err != nil {
		t.Fatal(err)
	}
	docs := yamlDocs(t, "apisix/config.yaml")
	var cfg struct {
		Wasm struct {
			Plugins []struct {
				Name string `json:"name"`
				File string `json:"file"`
			} `json:"plugins"`
		} `json:"wasm"`
		Nginx struct {
			Envs []string `json:"envs"`
		} `json:"nginx_config"`
	}
	if err := json.Unmarshal(docs[0], &cfg); err != nil || len(cfg.Wasm.Plugins) != 1 {
		t.Fatalf("config.yaml: %v %+v", err, cfg)
	}
	conf, ok := route.Plugins[cfg.Wasm.Plugins[0].Name]
	if !ok {
		t.Fatalf("route does not use the wasm plugin %q", cfg.Wasm.Plugins[0].Name)
	}
	checkPluginConfig(t, "route.json", conf, hostEnv(nil, cfg.Nginx.Envs...)) // the {"conf": …} wrapper as APISIX passes it
}
