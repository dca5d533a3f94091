package envoy

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// resolverFor is a Go resolver that asks only the lab DNS server.
func resolverFor(d *DNS) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dialer net.Dialer
		return dialer.DialContext(ctx, "udp", d.Addr().String())
	}}
}

func TestDNSAnswersProviderHosts(t *testing.T) {
	d, err := ListenDNS(net.IPv4(127, 0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.Set("api.openai.com", net.IPv4(127, 1, 2, 3))
	d.Set("*.openai.azure.com", net.IPv4(127, 1, 2, 4))
	r := resolverFor(d)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, tc := range []struct{ name, want string }{
		{"api.openai.com", "127.1.2.3"},
		{"API.OpenAI.com.", "127.1.2.3"},
		{"my-resource.openai.azure.com", "127.1.2.4"},
	} {
		ips, err := r.LookupIP(ctx, "ip4", tc.name)
		if err != nil || len(ips) != 1 || ips[0].String() != tc.want {
			t.Errorf("A %s = %v, %v; want %s", tc.name, ips, err, tc.want)
		}
	}
	if ips, err := r.LookupIP(ctx, "ip6", "api.openai.com"); err == nil && len(ips) > 0 {
		t.Errorf("AAAA api.openai.com = %v, want no address", ips)
	}
	if _, err := r.LookupIP(ctx, "ip4", "example.com"); err == nil {
		t.Error("example.com resolved; unknown names must get NXDOMAIN")
	} else if dnsErr, ok := err.(*net.DNSError); !ok || !dnsErr.IsNotFound {
		t.Errorf("example.com: %v, want not found", err)
	}
	if d.Queries("api.openai.com", "A") == 0 {
		t.Error("the A query was not counted")
	}
}

// TestLabServesProvidersOverTLS: a client that trusts only the lab CA and
// resolves with the lab DNS reaches the backend routed for the SNI name.
func TestLabServesProvidersOverTLS(t *testing.T) {
	lab := NewLab(t)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from "+r.Host)
	}))
	defer backend.Close()
	lab.Route("api.anthropic.com", backend.URL)

	dialer := &net.Dialer{Resolver: resolverFor(lab.DNS)}
	c := &http.Client{Transport: &http.Transport{
		DialContext:     dialer.DialContext,
		TLSClientConfig: &tls.Config{RootCAs: lab.CertPool()},
	}}
	resp, err := c.Get("https://" + lab.Authority("api.anthropic.com") + "/v1/messages")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "hello from " + lab.Authority("api.anthropic.com"); string(body) != want {
		t.Errorf("got %q, want %q", body, want)
	}
	// A name without a route is refused after the handshake.
	if _, err := c.Get("https://" + lab.Authority("api.openai.com") + "/"); err == nil {
		t.Error("api.openai.com answered without a route")
	}
	ca, err := os.ReadFile(lab.CAFile)
	if err != nil || !strings.Contains(string(ca), "BEGIN CERTIFICATE") {
		t.Errorf("CA file %s: %v %.40q", lab.CAFile, err, ca)
	}
}

// TestLabConfig: the example keeps everything but the module, the ports,
// the resolvers and the CA.
func TestLabConfig(t *testing.T) {
	example, err := os.ReadFile("../../examples/envoy/envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := ListenDNS(net.IPv4(127, 0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	dnsAddr := d.Addr().String()

	for _, tc := range []struct {
		name string
		port int
		// want maps a path of keys and list indexes to the value it must
		// hold after the substitution.
		want map[string]any
	}{
		{"port 443", 443, map[string]any{
			"static_resources.clusters.1.name": "api.openai.com:443",
			"static_resources.clusters.1.load_assignment.endpoints.0.lb_endpoints.0.endpoint.address.socket_address.port_value": 443,
			"plugin.override": nil,
		}},
		{"another port", 8443, map[string]any{
			"static_resources.clusters.1.name":                         "api.openai.com:8443",
			"static_resources.clusters.1.load_assignment.cluster_name": "api.openai.com:8443",
			"static_resources.clusters.1.load_assignment.endpoints.0.lb_endpoints.0.endpoint.address.socket_address.port_value": 8443,
			"plugin.override.endpoint": "https://api.openai.com:8443",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lab := &Lab{Port: tc.port, CAFile: "/lab/ca.pem", DNS: d}
			out, err := LabConfig(example, "/lab/ai-proxy.wasm", lab)
			if err != nil {
				t.Fatal(err)
			}
			got, orig := parse(t, out), parse(t, example)
			hcm := "static_resources.listeners.0.filter_chains.0.filters.0.typed_config"
			// http_filters: wasm, buffer, dynamic forward proxy, router.
			wasm := hcm + ".http_filters.0.typed_config.config"
			dfp := hcm + ".http_filters.2.typed_config"
			resolver := "typed_config.resolvers.0.socket_address"
			want := map[string]any{
				"static_resources.listeners.0.address.socket_address.address":                                                         "127.0.0.1",
				"static_resources.listeners.0.address.socket_address.port_value":                                                      0,
				"admin.address.socket_address.port_value":                                                                             0,
				wasm + ".vm_config.code.local.filename":                                                                               "/lab/ai-proxy.wasm",
				dfp + ".dns_cache_config.typed_dns_resolver_config." + resolver:                                                       "",
				"static_resources.clusters.0.cluster_type.typed_config.dns_cache_config.typed_dns_resolver_config." + resolver:        "",
				"static_resources.clusters.1.typed_dns_resolver_config." + resolver:                                                   "",
				"static_resources.clusters.0.transport_socket.typed_config.common_tls_context.validation_context.trusted_ca.filename": "/lab/ca.pem",
				"static_resources.clusters.1.transport_socket.typed_config.common_tls_context.validation_context.trusted_ca.filename": "/lab/ca.pem",
			}
			for k, v := range tc.want {
				want[k] = v
			}
			plugin := func(root any) map[string]any {
				var conf map[string]any
				json.Unmarshal([]byte(at(root, wasm+".configuration.value").(string)), &conf)
				return conf
			}
			for path, w := range want {
				var g any
				if p, ok := strings.CutPrefix(path, "plugin."); ok {
					g = at(plugin(got), p)
				} else {
					g = at(got, path)
				}
				if sa, ok := g.(map[string]any); ok && strings.HasSuffix(path, resolver) {
					g = net.JoinHostPort(sa["address"].(string), jsonNum(sa["port_value"]))
					w = dnsAddr
				}
				if jsonNum(g) != jsonNum(w) {
					t.Errorf("%s = %v, want %v", path, g, w)
				}
			}
			// Nothing else in the plugin configuration changes.
			gp, op := plugin(got), plugin(orig)
			delete(gp, "override")
			if a, b := mustJSON(gp), mustJSON(op); a != b {
				t.Errorf("plugin configuration changed:\n got %s\nwant %s", a, b)
			}
			// Auto SNI, SAN validation, access log, routes and stats stay.
			for _, p := range []string{"static_resources.clusters.0.typed_extension_protocol_options", hcm + ".access_log", hcm + ".route_config", "stats_config"} {
				if a, b := mustJSON(at(got, p)), mustJSON(at(orig, p)); a != b {
					t.Errorf("%s changed:\n got %s\nwant %s", p, a, b)
				}
			}
		})
	}
}

func parse(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// at follows a dotted path of map keys and list indexes; nil if absent.
func at(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		switch c := v.(type) {
		case map[string]any:
			v = c[k]
		case []any:
			i := 0
			for _, ch := range k {
				i = i*10 + int(ch-'0')
			}
			if i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

func jsonNum(v any) string { return strings.Trim(mustJSON(v), `"`) }

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
