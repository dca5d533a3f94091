package envoy

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/gateway"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/gcpauth"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/providers"
)

// GatewayOptions are what GatewayConfig needs besides the gateway config.
type GatewayOptions struct {
	// Module is the absolute path of the filter module.
	Module string
	// Listen is the listener's host:port (make run's LISTEN).
	Listen string
	// Targets is the gateway's clusters table with builtin mocks already
	// replaced by their base URLs (gateway.StartClusters).
	Targets map[string]string
	// HostEnvKeys are variables of Envoy's own environment the filter may
	// read (vm_config.environment_variables.host_env_keys), besides the
	// config's env section, which becomes key_values.
	HostEnvKeys []string
}

// GatewayConfig turns a local gateway config (examples/local/config.yaml)
// into an Envoy bootstrap that serves the same routes with the filter:
//
//   - One listener on Listen. Its virtual host, for authorities on the
//     listener's port, has one route per gateway route (same path and
//     methods, 404 otherwise) and enables on it a Wasm filter of its own
//     that carries the route's plugin configuration. The filters are
//     disabled by default (HttpFilter.disabled) and share one VM per
//     worker (same vm_id, code and vm_config).
//   - The filter rewrites :authority, and Envoy clears the route cache
//     when a 0.2.x module changes request headers (docs/host-behaviours.md),
//     so the router picks the route again by the new authority: each
//     authority of the clusters table has a virtual host that sends
//     everything to a plain-HTTP (or, for an https:// target, TLS) cluster
//     at its target; any other authority reaches the dynamic forward
//     proxy, over TLS with the system's CAs (plain HTTP when the filter set
//     :scheme http).
//   - A clusters entry without a port is also the callout cluster
//     "host:443", the name the filter's callouts use; one with a port is
//     the cluster of that name. Every other host a route's filter may call
//     out to (its provider's host, when headers cannot be held, and a
//     service account's token endpoint) gets a callout cluster of that
//     name too, over TLS to the real host.
//   - env becomes vm_config.environment_variables.key_values.
func GatewayConfig(cfg *gateway.Config, o GatewayOptions) ([]byte, error) {
	addr, err := net.ResolveTCPAddr("tcp", o.Listen)
	if err != nil || addr.Port == 0 {
		return nil, fmt.Errorf("listen address %q: want host:port with a port", o.Listen)
	}
	ip := "0.0.0.0"
	if addr.IP != nil {
		ip = addr.IP.String()
	}

	envVars := map[string]any{}
	if keys := slices.DeleteFunc(slices.Clone(o.HostEnvKeys), func(k string) bool { _, ok := cfg.Env[k]; return ok }); len(keys) > 0 {
		envVars["host_env_keys"] = keys
	}
	if len(cfg.Env) > 0 {
		envVars["key_values"] = cfg.Env
	}
	vmConfig := map[string]any{
		"vm_id":   "ai_proxy",
		"runtime": "envoy.wasm.runtime.v8",
		"code":    map[string]any{"local": map[string]any{"filename": o.Module}},
	}
	if len(envVars) > 0 {
		vmConfig["environment_variables"] = envVars
	}

	// Timeouts as in examples/envoy/envoy.yaml: the filter enforces the
	// plugin's idle timeout; the route's total timeout is off.
	forward := func(cluster string) map[string]any {
		return map[string]any{"cluster": cluster, "timeout": "0s", "idle_timeout": "300s"}
	}
	var filters, routes []any
	for i, r := range cfg.Routes {
		name := fmt.Sprintf("ai_proxy_%d", i)
		if r.ID != "" {
			name = "ai_proxy_" + r.ID
		}
		var plugin struct {
			Hold bool `json:"allow_on_headers_stop_iteration"`
		}
		json.Unmarshal(r.PluginConfig(), &plugin)
		filters = append(filters, map[string]any{
			"name":     name,
			"disabled": true,
			"typed_config": map[string]any{
				"@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
				"config": map[string]any{
					"name":                            name,
					"failure_policy":                  "FAIL_CLOSED",
					"allow_on_headers_stop_iteration": plugin.Hold,
					"vm_config":                       vmConfig,
					"configuration": map[string]any{
						"@type": "type.googleapis.com/google.protobuf.StringValue",
						"value": string(r.PluginConfig()),
					},
				},
			},
		})
		match := map[string]any{"path": r.URI}
		if p, ok := strings.CutSuffix(r.URI, "/*"); ok {
			match = map[string]any{"path_separated_prefix": p}
		}
		if len(r.Methods) > 0 {
			methods := make([]string, len(r.Methods))
			for i, m := range r.Methods {
				methods[i] = strings.ToUpper(m)
			}
			match["headers"] = []any{map[string]any{
				"name":         ":method",
				"string_match": map[string]any{"safe_regex": map[string]any{"regex": strings.Join(methods, "|")}},
			}}
		}
		routes = append(routes, map[string]any{
			"name":  r.ID,
			"match": match,
			"route": forward("llm_dfp"),
			"typed_per_filter_config": map[string]any{
				// An empty config enables the filter (Envoy's PerFilterConfigs).
				name: map[string]any{"@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "config": map[string]any{}},
			},
		})
	}
	routes = append(routes, map[string]any{
		"match": map[string]any{"prefix": "/"},
		"direct_response": map[string]any{
			"status": 404,
			"body":   map[string]any{"inline_string": `{"error":{"message":"no route matches","type":"gateway_error","code":404}}`},
		},
	})
	vhosts := []any{map[string]any{
		"name":    "gateway",
		"domains": []string{"*:" + strconv.Itoa(addr.Port)},
		"routes":  routes,
	}}

	clusters := []any{dfpCluster("llm_dfp", true), dfpCluster("llm_dfp_plain", false)}
	names := make([]string, 0, len(o.Targets))
	for k := range o.Targets {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, authority := range names {
		target := o.Targets[authority]
		u, err := url.Parse(target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			return nil, fmt.Errorf("gateway config: cluster %q: target %q is not an http:// or https:// URL or builtin:<provider>", authority, target)
		}
		if strings.Trim(u.Path, "/") != "" {
			return nil, fmt.Errorf("gateway config: cluster %q: target %q has a path; on Envoy a cluster is a host and port only", authority, target)
		}
		name, domains := authority, []string{authority}
		if _, _, err := net.SplitHostPort(authority); err != nil {
			name, domains = authority+":443", []string{authority, authority + ":*"}
		}
		clusters = append(clusters, staticCluster(name, u))
		vhosts = append(vhosts, map[string]any{
			"name":    name,
			"domains": domains,
			"routes":  []any{map[string]any{"match": map[string]any{"prefix": "/"}, "route": forward(name)}},
		})
	}
	have := map[string]bool{}
	for _, c := range clusters {
		have[c.(map[string]any)["name"].(string)] = true
	}
	for _, r := range cfg.Routes {
		for _, u := range calloutTargets(r.PluginConfig()) {
			if name := providers.ClusterName(u.Scheme, u.Host); !have[name] {
				have[name] = true
				clusters = append(clusters, staticCluster(name, u))
			}
		}
	}
	vhosts = append(vhosts, map[string]any{
		"name":    "providers",
		"domains": []string{"*"},
		"routes": []any{
			map[string]any{
				"match": map[string]any{"prefix": "/", "headers": []any{map[string]any{"name": ":scheme", "string_match": map[string]any{"exact": "http"}}}},
				"route": forward("llm_dfp_plain"),
			},
			map[string]any{"match": map[string]any{"prefix": "/"}, "route": forward("llm_dfp")},
		},
	})

	filters = append(filters,
		map[string]any{"name": "envoy.filters.http.dynamic_forward_proxy", "typed_config": map[string]any{
			"@type":            "type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig",
			"dns_cache_config": dnsCache(),
		}},
		map[string]any{"name": "envoy.filters.http.router", "typed_config": map[string]any{
			"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
		}},
	)
	root := map[string]any{
		"static_resources": map[string]any{
			"listeners": []any{map[string]any{
				"name":                              "gateway",
				"address":                           map[string]any{"socket_address": map[string]any{"address": ip, "port_value": addr.Port}},
				"per_connection_buffer_limit_bytes": 10 << 20,
				"filter_chains": []any{map[string]any{"filters": []any{map[string]any{
					"name": "envoy.filters.network.http_connection_manager",
					"typed_config": map[string]any{
						"@type":               "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
						"stat_prefix":         "gateway",
						"stream_idle_timeout": "900s",
						"route_config":        map[string]any{"name": "gateway", "virtual_hosts": vhosts},
						"http_filters":        filters,
					},
				}}}},
			}},
			"clusters": clusters,
		},
		"admin": map[string]any{"address": map[string]any{"socket_address": map[string]any{"address": "127.0.0.1", "port_value": 0}}},
	}
	return yaml.Marshal(root)
}

// calloutTargets lists the base URLs a plugin configuration's callouts may
// reach: each instance's provider host (the endpoint override's, else the
// provider's default for its region) and, with a service account, its token
// endpoint. A configuration the filter will reject gives what it can.
func calloutTargets(plugin []byte) []*url.URL {
	type instance struct {
		Provider     string
		ProviderConf struct{ Region string } `json:"provider_conf"`
		Override     struct{ Endpoint string }
		Auth         struct {
			GCP *struct {
				ServiceAccountJSON string `json:"service_account_json"`
			}
		}
	}
	var conf struct {
		instance
		Instances []instance
	}
	if json.Unmarshal(plugin, &conf) != nil {
		return nil
	}
	var out []*url.URL
	add := func(raw string) {
		if u, err := url.Parse(raw); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			out = append(out, u)
		}
	}
	for _, in := range append([]instance{conf.instance}, conf.Instances...) {
		p, ok := providers.Lookup(in.Provider)
		switch {
		case in.Override.Endpoint != "":
			add(in.Override.Endpoint)
		case ok:
			add("https://" + p.HostFor(p.Conf("", in.ProviderConf.Region).Region))
		}
		if in.Auth.GCP != nil {
			var sa struct {
				TokenURI string `json:"token_uri"`
			}
			json.Unmarshal([]byte(in.Auth.GCP.ServiceAccountJSON), &sa)
			if sa.TokenURI == "" {
				sa.TokenURI = gcpauth.DefaultTokenURI
			}
			add(sa.TokenURI)
		}
	}
	return out
}

func dnsCache() map[string]any {
	return map[string]any{"name": "llm_dns", "dns_lookup_family": "V4_PREFERRED", "max_hosts": 256}
}

// dfpCluster is the example's dynamic forward proxy cluster; tls verifies
// the provider's certificate against the system's CAs.
func dfpCluster(name string, tls bool) map[string]any {
	c := map[string]any{
		"name":            name,
		"connect_timeout": "5s",
		"lb_policy":       "CLUSTER_PROVIDED",
		"cluster_type": map[string]any{
			"name": "envoy.clusters.dynamic_forward_proxy",
			"typed_config": map[string]any{
				"@type":            "type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig",
				"dns_cache_config": dnsCache(),
			},
		},
	}
	if tls {
		c["typed_extension_protocol_options"] = map[string]any{
			"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": map[string]any{
				"@type":                          "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
				"upstream_http_protocol_options": map[string]any{"auto_sni": true, "auto_san_validation": true},
				"explicit_http_config":           map[string]any{"http_protocol_options": map[string]any{}},
			},
		}
		c["transport_socket"] = tlsSocket("")
	}
	return c
}

func tlsSocket(sni string) map[string]any {
	ctx := map[string]any{
		"@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
		"common_tls_context": map[string]any{"validation_context": map[string]any{
			"trusted_ca": map[string]any{"filename": "/etc/ssl/certs/ca-certificates.crt"},
		}},
	}
	if sni != "" {
		ctx["sni"] = sni
	}
	return map[string]any{"name": "envoy.transport_sockets.tls", "typed_config": ctx}
}

// staticCluster reaches u's host and port: STATIC for an IP address,
// STRICT_DNS for a name, TLS for https.
func staticCluster(name string, u *url.URL) map[string]any {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	p, _ := strconv.Atoi(port)
	kind := "STATIC"
	if net.ParseIP(u.Hostname()) == nil {
		kind = "STRICT_DNS"
	}
	c := map[string]any{
		"name":            name,
		"type":            kind,
		"connect_timeout": "5s",
		"load_assignment": map[string]any{
			"cluster_name": name,
			"endpoints": []any{map[string]any{"lb_endpoints": []any{map[string]any{"endpoint": map[string]any{
				"address": map[string]any{"socket_address": map[string]any{"address": u.Hostname(), "port_value": p}},
			}}}}},
		},
	}
	if u.Scheme == "https" {
		c["transport_socket"] = tlsSocket(u.Hostname())
	}
	return c
}
