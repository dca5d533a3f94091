package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/gateway"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host/hosttest"
)

// A configuration that would inject headers, or that the proxy's header map
// would refuse on every request, is refused when the plugin is configured:
// the gateway does not start, and its error carries the filter's log line,
// which names the field and never the value.
func TestUnsafeConfigIsRefusedAtConfigure(t *testing.T) {
	tests := []struct{ name, plugin, want string }{
		{"CR LF in an auth header value", `{provider: openai, auth: {header: {Authorization: "Bearer secret\r\nX-Injected: 1"}}}`,
			`ai-proxy: auth.header "Authorization" value contains a CR, LF or NUL character`},
		{"space in an auth header name", `{provider: openai, auth: {header: {"Bad Header Name": "secret"}}}`,
			`ai-proxy: auth.header name "Bad Header Name" is not valid`},
		{"userinfo in override.endpoint", `{provider: openai-compatible, auth: {header: {a: b}}, override: {endpoint: "https://u:secret@llm.example.com/v1"}}`,
			`ai-proxy: override.endpoint must not contain userinfo`},
	}
	for _, profile := range profiles {
		for _, tc := range tests {
			t.Run(profile.String()+"/"+tc.name, func(t *testing.T) {
				cfg, err := gateway.ParseConfig([]byte("routes:\n  - {id: r, uri: /v1/chat/completions, plugins: {ai-proxy: " + tc.plugin + "}}\n"))
				if err != nil {
					t.Fatal(err)
				}
				g, err := gateway.New(context.Background(), hosttest.Filter(t), cfg, gateway.Options{Profile: profile, Workers: 1})
				if err == nil {
					g.Close()
					t.Fatal("the gateway started with the configuration")
				}
				if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") {
					t.Fatalf("error %q, want it to say %q and not show the value", err, tc.want)
				}
			})
		}
	}
}
