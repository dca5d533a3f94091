package envoy

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// LabConfig rewrites an Envoy bootstrap (one of examples/envoy/*.yaml) for
// the lab, changing only what a lab must change:
//   - the module: every vm_config's code.local.filename becomes module;
//   - the ports: listeners and admin bind 127.0.0.1:0 (Envoy picks free
//     ports; read them with ListenerAddr and the admin address file);
//   - the DNS resolver: every dns_cache_config (dynamic forward proxy) and
//     every LOGICAL_DNS/STRICT_DNS cluster resolves through the lab's DNS
//     server with c-ares;
//   - the trusted CA: every validation_context's trusted_ca file becomes the
//     lab CA.
//
// When the lab could not bind port 443, providers are reached on lab.Port:
// clusters named "host:443" become "host:<port>" and the plugin
// configuration gets an override.endpoint "https://host:<port>" (scheme and
// authority only, so the provider's paths stay). Everything else, including
// auto SNI, SAN validation and the filter chain, is kept.
// A nil lab changes only the module.
func LabConfig(example []byte, module string, lab *Lab) ([]byte, error) {
	var root map[string]any
	if err := yaml.Unmarshal(example, &root); err != nil {
		return nil, fmt.Errorf("envoy config: %w", err)
	}
	s := substituter{module: module, lab: lab}
	if err := s.walk(root); err != nil {
		return nil, err
	}
	if lab == nil {
		return yaml.Marshal(root)
	}
	sr, _ := root["static_resources"].(map[string]any)
	for _, l := range list(sr["listeners"]) {
		if sa := dig(l, "address", "socket_address"); sa != nil {
			sa["address"], sa["port_value"] = "127.0.0.1", 0
		}
	}
	if sa := dig(root["admin"], "address", "socket_address"); sa != nil {
		sa["address"], sa["port_value"] = "127.0.0.1", 0
	}
	for _, c := range list(sr["clusters"]) {
		if m, ok := c.(map[string]any); ok {
			s.cluster(m)
		}
	}
	return yaml.Marshal(root)
}

type substituter struct {
	module string
	lab    *Lab
}

func (s substituter) resolver() map[string]any {
	a := s.lab.DNS.Addr()
	return map[string]any{
		"name": "envoy.network.dns_resolver.cares",
		"typed_config": map[string]any{
			"@type":                "type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig",
			"resolvers":            []any{map[string]any{"socket_address": map[string]any{"address": a.IP.String(), "port_value": a.Port}}},
			"dns_resolver_options": map[string]any{"no_default_search_domain": true},
		},
	}
}

// walk applies the substitutions that may appear anywhere in the tree.
func (s substituter) walk(v any) error {
	switch v := v.(type) {
	case map[string]any:
		if local := dig(v["vm_config"], "code", "local"); local != nil {
			local["filename"] = s.module
		}
		if s.lab != nil {
			if dc, ok := v["dns_cache_config"].(map[string]any); ok {
				dc["typed_dns_resolver_config"] = s.resolver()
			}
			if ca, ok := v["trusted_ca"].(map[string]any); ok {
				ca["filename"] = s.lab.CAFile
			}
			if err := s.pluginConfig(v); err != nil {
				return err
			}
		}
		for _, c := range v {
			if err := s.walk(c); err != nil {
				return err
			}
		}
	case []any:
		for _, c := range v {
			if err := s.walk(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// providerHosts are the default hosts of the providers whose endpoint is
// one host: when the lab cannot use port 443, their plugin configuration
// gets an override.endpoint that names the lab's port.
var providerHosts = map[string]string{
	"openai": "api.openai.com", "deepseek": "api.deepseek.com", "aimlapi": "api.aimlapi.com",
	"anthropic": "api.anthropic.com", "openrouter": "openrouter.ai",
	"gemini": "generativelanguage.googleapis.com",
}

// pluginConfig adds the lab port to a Wasm plugin's ai-proxy configuration
// (a google.protobuf.StringValue holding JSON) when the lab is not on 443.
func (s substituter) pluginConfig(v map[string]any) error {
	cfg, ok := v["configuration"].(map[string]any)
	if !ok || s.lab.Port == 443 || !strings.HasSuffix(fmt.Sprint(cfg["@type"]), "google.protobuf.StringValue") {
		return nil
	}
	var conf map[string]any
	if err := json.Unmarshal([]byte(fmt.Sprint(cfg["value"])), &conf); err != nil {
		return fmt.Errorf("envoy config: plugin configuration: %w", err)
	}
	override, _ := conf["override"].(map[string]any)
	if override == nil {
		override = map[string]any{}
		conf["override"] = override
	}
	if ep, ok := override["endpoint"].(string); ok {
		// Keep the path, put the lab port into the authority.
		i := strings.Index(ep, "://")
		host, rest, _ := strings.Cut(ep[i+3:], "/")
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		override["endpoint"] = ep[:i+3] + s.lab.Authority(host) + "/" + rest
	} else {
		host, ok := providerHosts[fmt.Sprint(conf["provider"])]
		if !ok {
			return fmt.Errorf("envoy lab: port 443 is not available (run as root or lower net.ipv4.ip_unprivileged_port_start) and provider %v has no single default host to put a port on", conf["provider"])
		}
		override["endpoint"] = "https://" + s.lab.Authority(host)
	}
	b, err := json.Marshal(conf)
	if err != nil {
		return err
	}
	cfg["value"] = string(b)
	return nil
}

// cluster points DNS clusters at the lab resolver and, off port 443,
// renames "host:443" clusters and their endpoints to the lab port.
func (s substituter) cluster(c map[string]any) {
	if t := fmt.Sprint(c["type"]); t == "LOGICAL_DNS" || t == "STRICT_DNS" {
		c["typed_dns_resolver_config"] = s.resolver()
	}
	if s.lab.Port == 443 {
		return
	}
	name := fmt.Sprint(c["name"])
	if host, ok := strings.CutSuffix(name, ":443"); ok {
		c["name"] = host + ":" + strconv.Itoa(s.lab.Port)
		if la := dig(c, "load_assignment"); la != nil {
			la["cluster_name"] = c["name"]
		}
	}
	for _, eps := range list(dig(c, "load_assignment")["endpoints"]) {
		for _, lb := range list(eps.(map[string]any)["lb_endpoints"]) {
			if sa := dig(lb, "endpoint", "address", "socket_address"); sa != nil && fmt.Sprint(sa["port_value"]) == "443" {
				sa["port_value"] = s.lab.Port
			}
		}
	}
}

// dig follows keys through nested maps; nil when a step is missing.
func dig(v any, keys ...string) map[string]any {
	m, _ := v.(map[string]any)
	for _, k := range keys {
		if m == nil {
			return nil
		}
		m, _ = m[k].(map[string]any)
	}
	return m
}

func list(v any) []any { l, _ := v.([]any); return l }
