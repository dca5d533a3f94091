package host_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
)

// backend serves the callout targets used below.
func backend(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/auth":
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Seen-Host", r.Host)
			w.Header().Set("X-Seen-From", r.Header.Get("x-from"))
			if v := r.Header.Get("x-envoy-internal"); v != "" {
				w.Header().Set("X-Seen-Internal", v)
			}
			w.WriteHeader(201)
			io.WriteString(w, "granted:"+r.Method+":"+string(b))
		case "/deny":
			w.WriteHeader(403)
			io.WriteString(w, "no")
		case "/slow":
			time.Sleep(300 * time.Millisecond)
			io.WriteString(w, "late")
		case "/huge":
			chunk := make([]byte, 1<<20)
			for i := 0; i < 33; i++ {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		case "/reset":
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(200)
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// closedPort returns a local address nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// TestEnvoyHTTPCall covers proxy_http_call on Envoy: the cluster must be
// known and the headers must carry :method, :path and :authority; the
// response reaches the root context, and outcomes map as in
// docs/host-behaviours.md#callouts (timeout → 504, connect failure → 503,
// reset or > 32 MiB → no headers and status 11 "reset").
func TestEnvoyHTTPCall(t *testing.T) {
	srv := backend(t)
	dead := closedPort(t)
	clusters := func(name string) (string, bool) {
		switch name {
		case "auth":
			return srv.URL, true
		case "dead":
			return dead, true
		}
		return "", false
	}
	callResp := `
call_response get_pairs 6
call_response get_body 4 0 all
call_response status
call_response context
call_response effective
call_response context
call_response add 0 x-call done
call_response continue 0
`
	tests := []struct {
		name, call string
		dispatch   string // the dispatch's logged result
		headers    string // call_response get_pairs 6
		body       string
		status     string
	}{
		{name: "ok", call: "call auth POST /auth 0 payload", dispatch: "0 id=4",
			headers: "0 :status=201;content-length=20;content-type=text/plain; charset=utf-8;date=*;x-seen-from=abiecho;x-seen-host=auth;x-seen-internal=true",
			body:    "0 granted:POST:payload", status: "0 0"},
		{name: "4xx is a response", call: "call auth GET /deny 0", dispatch: "0 id=4",
			headers: "0 :status=403;*", body: "0 no", status: "0 0"},
		{name: "timeout", call: "call auth GET /slow 50", dispatch: "0 id=4",
			headers: "0 :status=504;content-length=24;content-type=text/plain", body: "0 upstream request timeout", status: "0 0"},
		{name: "connect failure", call: "call dead GET / 0", dispatch: "0 id=4",
			headers: "0 :status=503;*", body: "0 upstream connect error or disconnect/reset before headers. reset reason: connection failure", status: "0 0"},
		{name: "reset", call: "call auth GET /reset 0", dispatch: "0 id=4", headers: "0", body: "1", status: "0 11 reset"},
		{name: "over 32 MiB", call: "call auth GET /huge 0", dispatch: "0 id=4", headers: "0", body: "1", status: "0 11 reset"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plugin := newEcho(t, host.VMConfig{Profile: host.Envoy, Clusters: clusters},
				"request_headers "+tc.call+"\nrequest_headers return 1"+callResp)
			rec := &recorder{}
			resp, err := plugin.Do(ctxT(t), &host.Request{}, host.Options{Upstream: rec.upstream})
			if err != nil {
				t.Fatal(err)
			}
			if got := mustResult(t, resp.Logs, "request_headers", tc.call); got != tc.dispatch {
				t.Errorf("dispatch: %q, want %q", got, tc.dispatch)
			}
			if got := mustResult(t, resp.Logs, "call_response", "get_pairs 6"); !match(got, tc.headers) {
				t.Errorf("headers %q, want %q", got, tc.headers)
			}
			if got := mustResult(t, resp.Logs, "call_response", "get_body 4 0 all"); got != tc.body {
				t.Errorf("body %q, want %q", got, tc.body)
			}
			if got := mustResult(t, resp.Logs, "call_response", "status"); got != tc.status {
				t.Errorf("status %q, want %q", got, tc.status)
			}
			// The callback runs on the root; set_effective_context moves
			// the header edit and the continue to the stream.
			if v, _ := rec.reqs[0].Get("x-call"); v != "done" {
				t.Errorf("upstream x-call = %q", v)
			}
		})
	}
	t.Run("bad arguments", func(t *testing.T) {
		plugin := newEcho(t, host.VMConfig{Profile: host.Envoy, Clusters: clusters}, `
request_headers call nowhere GET / 0
request_headers call_noauthority auth
request_headers effective 999
`)
		resp, err := plugin.Do(ctxT(t), &host.Request{}, host.Options{Upstream: (&recorder{}).upstream})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ cmd, want string }{
			{"call nowhere GET / 0", "2 id=0"},
			{"call_noauthority auth", "2 id=0"},
			{"effective 999", "2"},
		} {
			if got := mustResult(t, resp.Logs, "request_headers", c.cmd); got != c.want {
				t.Errorf("%s = %q, want %q", c.cmd, got, c.want)
			}
		}
	})
	t.Run("ids and the root", func(t *testing.T) {
		plugin := newEcho(t, host.VMConfig{Profile: host.Envoy, Clusters: clusters},
			"request_headers call auth GET /auth 0\nrequest_headers call auth GET /auth 0\ncall_response context")
		resp, err := plugin.Do(ctxT(t), &host.Request{}, host.Options{Upstream: (&recorder{}).upstream})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, l := range resp.Logs {
			if r, ok := strings.CutPrefix(l.Msg, "request_headers: call auth GET /auth 0 -> "); ok {
				ids = append(ids, r)
			}
		}
		if strings.Join(ids, ",") != "0 id=4,0 id=8" {
			t.Errorf("call ids %v, want 4 and 8 (HOST nextHttpCallId)", ids)
		}
		deadline := time.Now().Add(5 * time.Second)
		for n := 0; n < 2 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			n = 0
			for _, l := range plugin.VM().Logs() {
				if strings.HasPrefix(l.Msg, "call_response: context -> 0 1 root=1") {
					n++
				}
			}
		}
		if n := strings.Count(dump(plugin.VM().Logs()), "call_response: context -> 0 1 root=1"); n != 2 {
			t.Errorf("%d call responses ran on the root context 1, want 2:\n%s", n, dump(plugin.VM().Logs()))
		}
	})
}

// match compares with a trailing "*" wildcard and "date=*" for a date.
func match(got, want string) bool {
	if i := strings.Index(want, "date=*"); i >= 0 {
		if !strings.HasPrefix(got, want[:i+5]) {
			return false
		}
		j := strings.Index(got[i:], ";")
		if j < 0 {
			return false
		}
		got = got[:i+5] + "*" + got[i+j:]
	}
	if p, ok := strings.CutSuffix(want, "*"); ok {
		return strings.HasPrefix(got, p)
	}
	return got == want
}

// TestAPISIXHTTPCall covers wasm-nginx-module's proxy_http_call: host:port
// upstreams, one call per request, request phases only, run after the
// callback with the response on the plugin id, :status last, a transport
// failure as zero headers (docs/host-behaviours.md#apisix-callouts).
func TestAPISIXHTTPCall(t *testing.T) {
	srv := backend(t)
	hostport := strings.TrimPrefix(srv.URL, "http://")
	clusters := func(up string) (string, bool) {
		if up == hostport {
			return srv.URL, true
		}
		return "", false
	}
	plugin := newEcho(t, host.VMConfig{Profile: host.APISIX, Clusters: clusters}, `
request_headers call `+hostport+` POST /auth 1000 payload
request_headers call `+hostport+` GET /auth 1000
request_headers call http://x GET / 0
request_headers return 1
call_response get_pairs 6
call_response get_body 4 0 all
call_response add 0 x-call done
call_response context
response_headers call `+hostport+` GET /auth 1000
`)
	rec := &recorder{}
	resp, err := plugin.Do(ctxT(t), &host.Request{}, host.Options{Upstream: rec.upstream})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ cb, cmd, want string }{
		{"request_headers", "call " + hostport + " POST /auth 1000 payload", "0 id=0"},
		{"request_headers", "call " + hostport + " GET /auth 1000", "10 id=0"}, // "multiple calls are not supported"
		{"request_headers", "call http://x GET / 0", "2 id=0"},
		{"call_response", "get_body 4 0 all", "0 granted:POST:payload"},
		{"call_response", "context", "0 1 root=1"}, // the plugin id; host calls still act on the request
		{"response_headers", "call " + hostport + " GET /auth 1000", "2 id=0"},
	} {
		if got := mustResult(t, resp.Logs, c.cb, c.cmd); got != c.want {
			t.Errorf("%s %s = %q, want %q", c.cb, c.cmd, got, c.want)
		}
	}
	if got := mustResult(t, resp.Logs, "call_response", "get_pairs 6"); !strings.HasSuffix(got, ";:status=201") || !strings.Contains(got, "x-seen-host="+hostport) {
		t.Errorf("call response headers %q: want :status last and Host = the upstream", got)
	}
	if !hasLog(resp.Logs, "call_response: id=0 headers=") {
		t.Error("no call response")
	}
	if v, _ := rec.reqs[0].Get("x-call"); v != "done" {
		t.Errorf("upstream x-call = %q", v)
	}

	t.Run("transport failure", func(t *testing.T) {
		dead := strings.TrimPrefix(closedPort(t), "http://")
		plugin := newEcho(t, host.VMConfig{Profile: host.APISIX, Clusters: func(string) (string, bool) { return "http://" + dead, true }},
			"request_headers call "+dead+" GET / 1000\nrequest_headers return 1\ncall_response get_pairs 6")
		resp, err := plugin.Do(ctxT(t), &host.Request{}, host.Options{Upstream: (&recorder{}).upstream})
		if err != nil {
			t.Fatal(err)
		}
		if !hasLog(resp.Logs, "call_response: id=0 headers=0 body=0 trailers=0") {
			t.Errorf("want a zero-header call response:\n%s", dump(resp.Logs))
		}
		if got := mustResult(t, resp.Logs, "call_response", "get_pairs 6"); got != "1" {
			t.Errorf("get_pairs 6 after a failure = %q, want NOT_FOUND", got)
		}
	})
}
