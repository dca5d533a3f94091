package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

// plugin is the filter's configuration on every benchmark route: OpenAI
// with the key injected and the model rewritten.
const plugin = `{"provider":"openai","auth":{"header":{"Authorization":"Bearer sk-bench"}},"options":{"model":"gpt-4o-mini"}}`

// benchConfig is one listener on 127.0.0.1:port whose routes all go to the
// static cluster "upstream" (the mock, plain HTTP). With filter, each
// route enables a Wasm filter of its own that shares the one VM; without,
// it is the same config with no Wasm filter. The filter rewrites the path
// of converted requests, so the last route catches every path.
func benchConfig(module string, upstreamPort, port int, filter bool) []byte {
	var filters, routes strings.Builder
	for _, r := range []struct{ name, path string }{
		{"models", "/v1/models"}, {"chat", "/v1/chat/completions"}, {"messages", "/v1/messages"},
	} {
		perFilter := ""
		if filter {
			fmt.Fprintf(&filters, `
          - name: ai_proxy_%[1]s
            disabled: true
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: ai_proxy_%[1]s
                failure_policy: FAIL_CLOSED
                vm_config:
                  vm_id: ai_proxy
                  runtime: envoy.wasm.runtime.v8
                  code: { local: { filename: %[2]q } }
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: %[3]q`, r.name, module, plugin)
			perFilter = fmt.Sprintf(`
                typed_per_filter_config:
                  ai_proxy_%s: { "@type": type.googleapis.com/envoy.config.route.v3.FilterConfig, config: {} }`, r.name)
		}
		fmt.Fprintf(&routes, `
              - match: { path: %q }
                route: { cluster: upstream, timeout: 0s }%s`, r.path, perFilter)
	}
	return fmt.Appendf(nil, `static_resources:
  listeners:
  - name: bench
    address: { socket_address: { address: 127.0.0.1, port_value: %[1]d } }
    per_connection_buffer_limit_bytes: 10485760
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          route_config:
            virtual_hosts:
            - name: bench
              domains: ["*"]
              routes:%[2]s
              - match: { prefix: "/" }
                route: { cluster: upstream, timeout: 0s }
          http_filters:%[3]s
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:
  - name: upstream
    type: STATIC
    connect_timeout: 5s
    load_assignment:
      cluster_name: upstream
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: %[4]d } } } }] }]
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
`, port, routes.String(), filters.String(), upstreamPort)
}

// padded returns a JSON request of exactly size bytes: prefix, a user
// message of filler, suffix.
func padded(size int, prefix, suffix string) []byte {
	const head, tail = `"messages":[{"role":"user","content":"`, `"}]`
	n := size - len(prefix) - len(head) - len(tail) - len(suffix)
	return []byte(prefix + head + strings.Repeat("lorem ipsum ", n/12+1)[:n] + tail + suffix)
}

func benchScenarios() []scenario {
	isOpenAI := func(b []byte) bool { return bytes.Contains(b, []byte(`"model":"gpt-4o-mini"`)) }
	return []scenario{
		{name: "non-AI passthrough (GET /v1/models)", method: "GET", path: "/v1/models"},
		{name: "OpenAI chat 1 KB, model rewrite", method: "POST", path: "/v1/chat/completions",
			body: padded(1024, `{"model":"gpt-4o",`, `}`), check: isOpenAI},
		{name: "OpenAI chat 100 KB, model rewrite", method: "POST", path: "/v1/chat/completions", rate: 200,
			body: padded(100<<10, `{"model":"gpt-4o",`, `}`), check: isOpenAI},
		{name: "Anthropic→OpenAI 1 KB", method: "POST", path: "/v1/messages",
			body:  padded(1024, `{"model":"claude-sonnet-4-5","max_tokens":100,`, `}`),
			check: func(b []byte) bool { return bytes.Contains(b, []byte(`"type":"message"`)) }},
		{name: "SSE stream, 100 events", method: "POST", path: "/v1/chat/completions", rate: 200,
			body:  padded(1024, `{"model":"gpt-4o","stream":true,`, `}`),
			check: func(b []byte) bool { return bytes.Count(b, []byte("\n\n")) >= 100 && isOpenAI(b) }},
	}
}

// upstream answers every request with bytes recorded once from the mocks
// of e2e/mock, so its own cost is small and the same for every target: a
// chat completion, an SSE stream of 100 content deltas (written and
// flushed event by event), an Anthropic message, a model list.
func newUpstream() (*httptest.Server, error) {
	openai, anthropic := mock.NewOpenAI(mock.WithStreamChunks(100)), mock.NewAnthropic()
	defer openai.Close()
	defer anthropic.Close()
	record := func(m *mock.Server, method, path, body string) ([]byte, error) {
		req, _ := http.NewRequest(method, m.URL+path, strings.NewReader(body))
		req.Header.Set("content-type", "application/json")
		req.Header.Set("x-api-key", "k")
		req.Header.Set("anthropic-version", "2023-06-01")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("recording %s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return b, err
	}
	const msg = `"messages":[{"role":"user","content":"Tell me a story"}]`
	chat, err := record(openai, "POST", "/v1/chat/completions", `{"model":"gpt-4o-mini",`+msg+`}`)
	if err != nil {
		return nil, err
	}
	stream, err := record(openai, "POST", "/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,`+msg+`}`)
	if err != nil {
		return nil, err
	}
	models, err := record(openai, "GET", "/v1/models", "")
	if err != nil {
		return nil, err
	}
	message, err := record(anthropic, "POST", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":100,`+msg+`}`)
	if err != nil {
		return nil, err
	}
	events := bytes.SplitAfter(stream, []byte("\n\n"))
	streamFlag := []byte(`"stream":true`)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.URL.Path == "/v1/models":
			w.Header().Set("content-type", "application/json")
			w.Write(models)
		case r.URL.Path == "/v1/messages":
			w.Header().Set("content-type", "application/json")
			w.Write(message)
		case bytes.Contains(body, streamFlag):
			w.Header().Set("content-type", "text/event-stream")
			f := w.(http.Flusher)
			for _, ev := range events {
				w.Write(ev)
				f.Flush()
			}
		default:
			w.Header().Set("content-type", "application/json")
			w.Write(chat)
		}
	}))
	srv.Listener.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv.Listener = l
	srv.Start()
	return srv, nil
}

// freePort returns a loopback port nobody listens on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
