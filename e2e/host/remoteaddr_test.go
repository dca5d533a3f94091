package host_test

import (
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
)

// TestClientAddress: Envoy's source.address is the connection's peer, or
// with the HCM's defaults (use_remote_address false) the last
// X-Forwarded-For address with port 0, as Envoy 1.36 and 1.40 answer;
// APISIX's $remote_addr is the peer whatever the headers say (nginx's
// real_ip is off by default).
func TestClientAddress(t *testing.T) {
	tests := []struct {
		name       string
		profile    host.Profile
		peer, xff  string
		prop, want string
	}{
		{"envoy peer", host.Envoy, "10.0.0.7:4242", "", "source/address", "0 10.0.0.7:4242"},
		{"envoy peer, IPv6", host.EnvoyFixed, "[2001:db8::7]:4242", "", "source/address", "0 [2001:db8::7]:4242"},
		{"envoy takes the last X-Forwarded-For", host.Envoy, "10.0.0.7:4242", "192.0.2.1, 198.51.100.2", "source/address", "0 198.51.100.2:0"},
		{"envoy X-Forwarded-For, IPv6", host.EnvoyFixed, "10.0.0.7:4242", "2001:db8::9", "source/address", "0 [2001:db8::9]:0"},
		{"envoy ignores an X-Forwarded-For that is no IP", host.Envoy, "10.0.0.7:4242", "unknown", "source/address", "0 10.0.0.7:4242"},
		{"apisix peer", host.APISIX, "10.0.0.7:4242", "198.51.100.2", "remote_addr", "0 10.0.0.7"},
		{"apisix peer, IPv6", host.APISIX, "[2001:db8::7]:4242", "", "remote_addr", "0 2001:db8::7"},
		{"apisix port", host.APISIX, "10.0.0.7:4242", "", "remote_port", "0 4242"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plugin := newEcho(t, host.VMConfig{Profile: tt.profile}, "request_headers prop "+tt.prop)
			req := &host.Request{Method: "GET", Path: "/", RemoteAddr: tt.peer}
			if tt.xff != "" {
				req.Header = [][2]string{{"x-forwarded-for", tt.xff}}
			}
			if _, err := plugin.Do(ctxT(t), req, host.Options{Upstream: (&recorder{}).upstream}); err != nil {
				t.Fatal(err)
			}
			if got := mustResult(t, plugin.VM().Logs(), "request_headers", "prop "+tt.prop); got != tt.want {
				t.Errorf("%s = %q, want %q", tt.prop, got, tt.want)
			}
		})
	}
}
