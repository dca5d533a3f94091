package envoytest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/envoy"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host/hosttest"
)

// gcbombConfig serves every request with a direct 200 behind the gcbomb
// guest, failing closed, with an access log that prints the response
// details.
const gcbombConfig = `
static_resources:
  listeners:
  - name: gcbomb
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: gcbomb
          access_log:
          - name: envoy.access_loggers.stdout
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog
              log_format: { text_format_source: { inline_string: "access %%RESPONSE_CODE%% %%RESPONSE_CODE_DETAILS%%\n" } }
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                direct_response: { status: 200, body: { inline_string: "ok" } }
          http_filters:
          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: gcbomb
                failure_policy: FAIL_CLOSED
                vm_config:
                  vm_id: gcbomb
                  runtime: envoy.wasm.runtime.v8
                  code: { local: { filename: %s } }
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
`

// TestGoRuntimePollOneoff runs the guest that makes the Go runtime call
// WASI poll_oneoff (e2e/testdata/gcbomb) in real Envoy: Envoy 1.33–1.38
// answer ENOSYS and the VM dies, Envoy 1.40 (proxy-wasm-cpp-host #533)
// serves on. This is the host behaviour the harness's envoy and
// envoy-fixed profiles emulate (docs/envoy-versions.md).
func TestGoRuntimePollOneoff(t *testing.T) {
	module := envoy.WriteModule(t, hosttest.BuildGuest(t, "../testdata/gcbomb"))
	forEachEnvoy(t, func(t *testing.T, b envoy.Binary) {
		e := envoy.Start(t, b, []byte(fmt.Sprintf(gcbombConfig, module)), envoy.Options{})
		url := "http://" + e.ListenerAddr(t, "gcbomb") + "/"
		// A connection per request, so both workers' VMs serve.
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		const requests = 3000
		served, status := 0, 0
		for ; served < requests; served++ {
			resp, err := c.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if status = resp.StatusCode; status != 200 {
				break
			}
		}
		enosys := b.Minor() >= 33 && b.Minor() <= 38
		switch {
		case enosys && served == requests:
			t.Fatalf("Envoy %s served %d requests: its poll_oneoff should answer ENOSYS and kill the Go runtime", b.Version, requests)
		case enosys:
			// The log lines come from the worker thread; give them time.
			deadline := time.Now().Add(10 * time.Second)
			want := []string{"poll_oneoff failed", "Function: proxy_on_request_headers failed: Uncaught RuntimeError: unreachable", "access 503 wasm_fail_stream"}
			for _, w := range want {
				for !strings.Contains(e.Log(), w) && time.Now().Before(deadline) {
					time.Sleep(50 * time.Millisecond)
				}
				if !strings.Contains(e.Log(), w) {
					t.Errorf("the log of Envoy %s lacks %q", b.Version, w)
				}
			}
			if status != 503 {
				t.Errorf("a dead VM answered %d, want the fail-closed 503", status)
			}
			t.Logf("Envoy %s: the VM died after %d requests", b.Version, served)
		case b.Minor() >= 40 && served < requests:
			t.Fatalf("Envoy %s answered %d after %d requests: its poll_oneoff should work", b.Version, status, served)
		default:
			t.Logf("Envoy %s served %d of %d requests (last status %d)", b.Version, served, requests, status)
		}
	})
}
