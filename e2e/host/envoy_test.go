package host_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
)

var envoys = []host.Profile{host.Envoy, host.EnvoyFixed}

// TestEnvoyHeaderMaps checks the header-map calls against ENVOY
// context.cc: keys lower-cased, the first of repeated values, setCopy
// replacing all, pairs replacing the whole map, byteSize.
func TestEnvoyHeaderMaps(t *testing.T) {
	tests := []struct {
		script   string
		cb, cmd  string
		want     string
		upstream map[string]string // headers the upstream must see ("" = absent)
	}{
		{script: "request_headers get 0 X-Dup", cb: "request_headers", cmd: "get 0 X-Dup", want: "0 one"},
		{script: "request_headers get 0 x-missing", cb: "request_headers", cmd: "get 0 x-missing", want: "1"},
		{script: "request_headers get 0 :method", cb: "request_headers", cmd: "get 0 :method", want: "0 POST"},
		// byteSize: the sum of key and value lengths, x-request-id is 36.
		{script: "request_headers map_size 0", cb: "request_headers", cmd: "map_size 0", want: "0 127"},
		{script: "request_headers get_pairs 9", cb: "request_headers", cmd: "get_pairs 9", want: "2"},
		{script: "request_headers get 8 x", cb: "request_headers", cmd: "get 8 x", want: "2"},
		{script: "request_headers get 6 x", cb: "request_headers", cmd: "get 6 x", want: "2"}, // no call response now
		{script: "request_headers get_pairs 6", cb: "request_headers", cmd: "get_pairs 6", want: "0"},
		{
			script: "request_headers replace 0 X-Dup only", cb: "request_headers", cmd: "replace 0 X-Dup only", want: "0",
			upstream: map[string]string{"x-dup": "only"},
		},
		{
			script: "request_headers add 0 X-New v", cb: "request_headers", cmd: "add 0 X-New v", want: "0",
			upstream: map[string]string{"x-new": "v"},
		},
		{
			script: "request_headers remove 0 x-dup", cb: "request_headers", cmd: "remove 0 x-dup", want: "0",
			upstream: map[string]string{"x-dup": ""},
		},
		{
			script: "request_headers set_pairs 0 :method=GET,:path=/new,:authority=up,:scheme=http,X-Only=1",
			cb:     "request_headers", cmd: "set_pairs 0 :method=GET,:path=/new,:authority=up,:scheme=http,X-Only=1", want: "0",
			upstream: map[string]string{"x-only": "1", "x-dup": "", ":path": "/new", ":authority": "up"},
		},
	}
	for _, p := range envoys {
		for _, tc := range tests {
			plugin := newEcho(t, host.VMConfig{Profile: p}, tc.script)
			rec := &recorder{}
			resp, err := plugin.Do(ctxT(t), &host.Request{Method: "POST", Path: "/p", Authority: "svc",
				Header: [][2]string{{"X-Dup", "one"}, {"x-dup", "two"}}}, host.Options{Upstream: rec.upstream})
			if err != nil {
				t.Fatalf("%s %q: %v", p, tc.script, err)
			}
			if got := mustResult(t, resp.Logs, tc.cb, tc.cmd); got != tc.want {
				t.Errorf("%s %q: got %q, want %q", p, tc.script, got, tc.want)
			}
			for k, v := range tc.upstream {
				u := rec.reqs[0]
				var got string
				switch k {
				case ":path":
					got = u.Path
				case ":authority":
					got = u.Authority
				default:
					got, _ = u.Get(k)
					if k == "x-dup" && v == "only" {
						var n int
						for _, kv := range u.Header {
							if kv[0] == "x-dup" {
								n++
							}
						}
						if n != 1 {
							t.Errorf("%s %q: upstream has %d x-dup headers, want 1", p, tc.script, n)
						}
					}
				}
				if got != v {
					t.Errorf("%s %q: upstream %s = %q, want %q", p, tc.script, k, got, v)
				}
			}
		}
	}
}

// TestEnvoyRequestHeadersGoneAfterContinue: Context::decodeHeaders drops
// the request headers when proxy_on_request_headers returns Continue; later
// reads fail and writes are BAD_ARGUMENT (docs/host-behaviours.md#request-headers-after-continue).
// With allow_on_headers_stop_iteration (envoy-fixed) a Pause holds them and
// the body still flows (§0.2, §1.3 row 2).
func TestEnvoyRequestHeadersGoneAfterContinue(t *testing.T) {
	script := `
request_body get 0 :path
request_body add 0 x-late yes
request_body get_pairs 0
response_headers get 0 :path
log get 0 :path
log add 0 x-log yes
log get 0 x-missing
log map_size 0
`
	for _, p := range envoys {
		plugin := newEcho(t, host.VMConfig{Profile: p}, script)
		rec := &recorder{}
		resp, err := plugin.Do(ctxT(t), &host.Request{Path: "/p", Body: []byte("body")}, host.Options{Upstream: rec.upstream})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ cb, cmd, want string }{
			{"request_body", "get 0 :path", "2"},
			{"request_body", "add 0 x-late yes", "2"},
			{"request_body", "get_pairs 0", "0"},
			{"response_headers", "get 0 :path", "2"},
			{"log", "get 0 :path", "0 /p"},  // readable in the access-log phase
			{"log", "add 0 x-log yes", "2"}, // but not writable
			{"log", "get 0 x-missing", "1"},
			{"log", "map_size 0", "2 0"},
		} {
			if got := mustResult(t, resp.Logs, c.cb, c.cmd); got != c.want {
				t.Errorf("%s: %s %s = %q, want %q", p, c.cb, c.cmd, got, c.want)
			}
		}
		if _, ok := rec.reqs[0].Get("x-late"); ok {
			t.Errorf("%s: a header added after Continue reached the upstream", p)
		}
	}
}

// TestEnvoyPauseInRequestHeaders is the allow_on_headers_stop_iteration
// difference: on envoy a Pause stops everything (no body callback until a
// continue); on envoy-fixed the body keeps flowing and the held headers
// stay writable until the body callback continues.
func TestEnvoyPauseInRequestHeaders(t *testing.T) {
	script := `
request_headers return 1
request_body args
request_body add 0 x-late yes
request_body if_not_eos return 1
`
	for _, p := range envoys {
		plugin := newEcho(t, host.VMConfig{Profile: p}, script)
		rec := &recorder{}
		resp, err := plugin.Do(ctxT(t), &host.Request{BodyChunks: [][]byte{[]byte("ab"), []byte("cd")}}, host.Options{Upstream: rec.upstream})
		switch p {
		case host.Envoy:
			if !errors.Is(err, host.ErrStalled) {
				t.Fatalf("envoy: want ErrStalled (StopAllIterationAndWatermark, nothing resumes), got %v", err)
			}
			if _, ok := result(resp.Logs, "request_body", "args"); ok {
				t.Errorf("envoy: the body reached the filter while the headers were paused")
			}
		case host.EnvoyFixed:
			if err != nil {
				t.Fatal(err)
			}
			if got := mustResult(t, resp.Logs, "request_body", "add 0 x-late yes"); got != "0" {
				t.Errorf("envoy-fixed: adding a held request header from the body callback = %s, want 0", got)
			}
			if v, _ := rec.reqs[0].Get("x-late"); v != "yes" {
				t.Errorf("envoy-fixed: upstream x-late = %q", v)
			}
			if string(rec.reqs[0].Body) != "abcd" {
				t.Errorf("envoy-fixed: upstream body %q", rec.reqs[0].Body)
			}
		}
	}
}

// TestEnvoyBodyBuffering: returning 1 is StopIterationAndBuffer and each
// later call gets the total buffered size; the body is rewritten at
// end_of_stream (docs/proxy-wasm-abi.md#actions).
func TestEnvoyBodyBuffering(t *testing.T) {
	script := `
request_headers remove 0 content-length
request_body args
request_body if_not_eos return 1
request_body if_eos upper_body 0
response_headers remove 2 content-length
response_body if_not_eos return 1
response_body if_eos get_body 1 0 all
response_body if_eos set_body 1 0 0 >>
`
	for _, p := range envoys {
		plugin := newEcho(t, host.VMConfig{Profile: p}, script)
		rec := &recorder{header: [][2]string{{"content-length", "9"}}, chunks: []string{"one", "two", "six"}}
		var chunks []string
		resp, err := plugin.Do(ctxT(t), &host.Request{BodyChunks: [][]byte{[]byte("ab"), []byte("cd"), []byte("ef")}},
			host.Options{Upstream: rec.upstream, OnChunk: func(b []byte) { chunks = append(chunks, string(b)) }})
		if err != nil {
			t.Fatal(err)
		}
		var sizes []string
		for _, l := range resp.Logs {
			if r, ok := strings.CutPrefix(l.Msg, "request_body: args -> 0 "); ok {
				_, r, _ = strings.Cut(r, " ") // drop n=, the last headers count
				sizes = append(sizes, r)
			}
		}
		if got := strings.Join(sizes, "|"); got != "size=2 eos=false|size=4 eos=false|size=6 eos=true" {
			t.Errorf("%s: body callbacks %s", p, got)
		}
		if got := string(rec.reqs[0].Body); got != "ABCDEF" {
			t.Errorf("%s: upstream body %q", p, got)
		}
		if got := mustResult(t, resp.Logs, "response_body", "get_body 1 0 all"); got != "0 onetwosix" {
			t.Errorf("%s: buffered response %q", p, got)
		}
		if string(resp.Body) != ">>onetwosix" || strings.Join(chunks, "|") != ">>onetwosix" {
			t.Errorf("%s: response %q in chunks %q", p, resp.Body, chunks)
		}
		if _, ok := resp.Get("content-length"); ok {
			t.Errorf("%s: content-length survived", p)
		}
	}
}

// TestEnvoySetBufferBytes checks Buffer::copyFrom: start 0 size 0
// prepends, size >= length replaces, start >= length appends, anything
// else is BAD_ARGUMENT; immutable buffers are BAD_ARGUMENT too.
func TestEnvoySetBufferBytes(t *testing.T) {
	tests := []struct {
		cmd, status, body string
	}{
		{"set_body 0 0 0 <", "0", "<abcd"},
		{"set_body 0 0 4 x", "0", "x"},
		{"set_body 0 0 99 x", "0", "x"},
		{"set_body 0 4 0 >", "0", "abcd>"},
		{"set_body 0 9 0 >", "0", "abcd>"},
		{"set_body 0 2 0 x", "2", "abcd"},
		{"set_body 0 0 2 x", "2", "abcd"},
		{"set_body 6 0 0 x", "2", "abcd"}, // vm_configuration is immutable
		{"set_body 9 0 0 x", "2", "abcd"}, // no such buffer type
		{"set_body 7 0 0 x", "1", "abcd"}, // plugin configuration outside proxy_on_configure
	}
	for _, tc := range tests {
		plugin := newEcho(t, host.VMConfig{Profile: host.Envoy}, "request_headers remove 0 content-length\nrequest_body "+tc.cmd)
		rec := &recorder{}
		resp, err := plugin.Do(ctxT(t), &host.Request{Body: []byte("abcd")}, host.Options{Upstream: rec.upstream})
		if err != nil {
			t.Fatal(err)
		}
		if got := mustResult(t, resp.Logs, "request_body", tc.cmd); got != tc.status {
			t.Errorf("%s: status %s, want %s", tc.cmd, got, tc.status)
		}
		if got := string(rec.reqs[0].Body); got != tc.body {
			t.Errorf("%s: upstream body %q, want %q", tc.cmd, got, tc.body)
		}
	}
}

// TestEnvoyGetBufferBytes checks reads: clamped to the buffer, empty is OK
// with no data, unknown types BAD_ARGUMENT, unavailable buffers NOT_FOUND.
func TestEnvoyGetBufferBytes(t *testing.T) {
	script := `
request_headers get_body 0 0 10
request_body get_body 0 1 2
request_body get_body 0 2 100
request_body get_body 0 9 1
request_body get_body 4 0 10
request_body get_body 7 0 10
request_body get_body 9 0 10
request_body get_body 6 0 100
request_body buffer_status 0
`
	plugin := newEcho(t, host.VMConfig{Profile: host.Envoy, VMConfiguration: []byte("vmcfg")}, script)
	resp, err := plugin.Do(ctxT(t), &host.Request{Body: []byte("abcd")}, host.Options{Upstream: (&recorder{}).upstream})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ cb, cmd, want string }{
		{"request_headers", "get_body 0 0 10", "0"},
		{"request_body", "get_body 0 1 2", "0 bc"},
		{"request_body", "get_body 0 2 100", "0 cd"},
		{"request_body", "get_body 0 9 1", "0"},
		{"request_body", "get_body 4 0 10", "1"},
		{"request_body", "get_body 7 0 10", "1"},
		{"request_body", "get_body 9 0 10", "2"},
		{"request_body", "get_body 6 0 100", "0 vmcfg"},
		{"request_body", "buffer_status 0", "0 4"},
	} {
		if got := mustResult(t, resp.Logs, c.cb, c.cmd); got != c.want {
			t.Errorf("%s %s = %q, want %q", c.cb, c.cmd, got, c.want)
		}
	}
}

// TestEnvoyStaleContentLength: Envoy never fixes content-length, so a
// rewritten body under the old length mis-frames the message
// (docs/host-behaviours.md#local-replies-and-content-length); Do reports it.
func TestEnvoyStaleContentLength(t *testing.T) {
	for _, side := range []struct{ name, script string }{
		{"request", "request_body if_not_eos return 1\nrequest_body if_eos set_body 0 0 0 longer-"},
		{"response", "response_body set_body 1 0 0 longer-"},
	} {
		plugin := newEcho(t, host.VMConfig{Profile: host.Envoy}, side.script)
		rec := &recorder{header: [][2]string{{"content-length", "2"}}, chunks: []string{"ok"}}
		_, err := plugin.Do(ctxT(t), &host.Request{Body: []byte("abcd")}, host.Options{Upstream: rec.upstream})
		if err == nil || !strings.Contains(err.Error(), "content-length") {
			t.Errorf("%s: want a stale content-length error, got %v", side.name, err)
		}
	}
}

// TestEnvoyBufferLimit: over the buffer limit a buffering request gets a
// 413 local reply through the filter; a buffering response gets a direct
// 500 while its headers are held, a reset once they went out
// (docs/host-behaviours.md#buffer-limits).
func TestEnvoyBufferLimit(t *testing.T) {
	t.Run("request", func(t *testing.T) {
		plugin := newEcho(t, host.VMConfig{Profile: host.Envoy, BufferLimit: 8},
			"request_body return 1\nresponse_headers get 2 :status")
		rec := &recorder{}
		resp, err := plugin.Do(ctxT(t), &host.Request{BodyChunks: [][]byte{[]byte("12345"), []byte("12345"), []byte("12345")}}, host.Options{Upstream: rec.upstream})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 413 || !resp.Local || resp.Details != "request_payload_too_large" || len(rec.reqs) != 0 {
			t.Errorf("got %d local=%v %q, %d upstream requests", resp.Status, resp.Local, resp.Details, len(rec.reqs))
		}
		if got := mustResult(t, resp.Logs, "response_headers", "get 2 :status"); got != "0 413" {
			t.Errorf("the filter saw its 413 as %q", got)
		}
	})
	for _, p := range envoys {
		t.Run("response/"+p.String(), func(t *testing.T) {
			plugin := newEcho(t, host.VMConfig{Profile: p, BufferLimit: 8}, "response_headers return 1\nresponse_body return 1")
			rec := &recorder{chunks: []string{"12345", "12345"}}
			resp, err := plugin.Do(ctxT(t), &host.Request{}, host.Options{Upstream: rec.upstream})
			if p == host.Envoy {
				// The pause in response headers was StopAll; nothing
				// resumes it.
				if !errors.Is(err, host.ErrStalled) {
					t.Fatalf("want ErrStalled, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != 500 || !resp.Local || resp.Details != "response_payload_too_large" {
				t.Errorf("got %d local=%v %q", resp.Status, resp.Local, resp.Details)
			}
		})
	}
	t.Run("response after headers", func(t *testing.T) {
		plugin := newEcho(t, host.VMConfig{Profile: host.Envoy, BufferLimit: 8}, "response_body return 1")
		rec := &recorder{chunks: []string{"12345", "12345"}}
		resp, err := plugin.Do(ctxT(t), &host.Request{}, host.Options{Upstream: rec.upstream})
		if !errors.Is(err, host.ErrReset) || resp.Status != 200 {
			t.Errorf("want a reset after the 200 went out, got %d, %v", resp.Status, err)
		}
	})
}

// TestEnvoyLocalResponse: deferred until the callback returns, the callback
// result overridden, sent through the filter's own encoder callbacks before
// the response started (envoyproxy/envoy PR #36809 discussion in
// proxy-wasm/spec#73), directly once upstream headers arrived, a reset
// after they went out (docs/host-behaviours.md#local-replies-and-content-length).
func TestEnvoyLocalResponse(t *testing.T) {
	t.Run("request headers", func(t *testing.T) {
		plugin := newEcho(t, host.VMConfig{Profile: host.Envoy},
			"request_headers local 403 denied~by~policy x-why=policy\nrequest_headers return 0\nresponse_headers get_pairs 2\nresponse_body get_body 1 0 all")
		rec := &recorder{}
		resp, err := plugin.Do(ctxT(t), &host.Request{}, host.Options{Upstream: rec.upstream})
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.reqs) != 0 {
			t.Error("the request went upstream although the callback sent a local reply")
		}
		ct, _ := resp.Get("content-type")
		why, _ := resp.Get("x-why")
		if resp.Status != 403 || !resp.Local || string(resp.Body) != "denied by policy" || ct != "text/plain" || why != "policy" || resp.Details != "via_abiecho" {
			t.Errorf("got %+v", resp)
		}
		if got := mustResult(t, resp.Logs, "response_headers", "get_pairs 2"); got != "0 :status=403;x-why=policy;content-length=16;content-type=text/plain" {
			t.Errorf("the filter saw its local reply's headers as %q", got)
		}
		if got := mustResult(t, resp.Logs, "response_body", "get_body 1 0 all"); got != "0 denied by policy" {
			t.Errorf("the filter saw its local reply's body as %q", got)
		}
	})
	t.Run("response headers", func(t *testing.T) {
		plugin := newEcho(t, host.VMConfig{Profile: host.Envoy}, "response_headers local 502 bad\nresponse_body log 2 body-seen")
		rec := &recorder{chunks: []string{"upstream body"}}
		resp, err := plugin.Do(ctxT(t), &host.Request{}, host.Options{Upstream: rec.upstream})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 502 || string(resp.Body) != "bad" || !resp.Local {
			t.Errorf("got %d %q", resp.Status, resp.Body)
		}
		if hasLog(resp.Logs, "body-seen") {
			t.Error("a direct local reply went through the filter")
		}
	})
	t.Run("empty body", func(t *testing.T) {
		// Envoy drops content-type and content-length from a local reply
		// without a body, the plugin's own included; the HTTP/1 codec then
		// frames the headers-only response with content-length: 0.
		plugin := newEcho(t, host.VMConfig{Profile: host.Envoy}, "response_headers local 429 - content-type=application/json,content-length=7,x-why=quota")
		rec := &recorder{chunks: []string{"upstream body"}}
		resp, err := plugin.Do(ctxT(t), &host.Request{}, host.Options{Upstream: rec.upstream})
		if err != nil {
			t.Fatal(err)
		}
		want := [][2]string{{"x-why", "quota"}, {"content-length", "0"}}
		if resp.Status != 429 || len(resp.Body) != 0 || !slices.Equal(resp.Header, want) {
			t.Errorf("got %d %q %q, want 429 with headers %q and no body", resp.Status, resp.Header, resp.Body, want)
		}
	})
	t.Run("after headers", func(t *testing.T) {
		plugin := newEcho(t, host.VMConfig{Profile: host.Envoy}, "response_body local 500 late")
		rec := &recorder{chunks: []string{"upstream body"}}
		_, err := plugin.Do(ctxT(t), &host.Request{}, host.Options{Upstream: rec.upstream})
		if !errors.Is(err, host.ErrReset) {
			t.Errorf("want a reset, got %v", err)
		}
	})
	t.Run("twice", func(t *testing.T) {
		plugin := newEcho(t, host.VMConfig{Profile: host.Envoy}, "request_headers local 401 a\nresponse_headers local 500 b")
		_, err := plugin.Do(ctxT(t), &host.Request{}, host.Options{Upstream: (&recorder{}).upstream})
		if err == nil || !strings.Contains(err.Error(), "28826") {
			t.Errorf("want the envoyproxy/envoy#28826 stall, got %v", err)
		}
	})
	t.Run("close stream", func(t *testing.T) {
		plugin := newEcho(t, host.VMConfig{Profile: host.Envoy}, "request_headers close 0")
		_, err := plugin.Do(ctxT(t), &host.Request{}, host.Options{Upstream: (&recorder{}).upstream})
		if !errors.Is(err, host.ErrReset) {
			t.Errorf("want a reset, got %v", err)
		}
	})
	t.Run("upstream failure", func(t *testing.T) {
		plugin := newEcho(t, host.VMConfig{Profile: host.Envoy}, "response_headers get 2 :status")
		failing := func(ctx context.Context, r *host.UpstreamRequest) (*host.UpstreamResponse, error) {
			return nil, errors.New("connection refused")
		}
		resp, err := plugin.Do(ctxT(t), &host.Request{}, host.Options{Upstream: failing})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 503 || !resp.Local || mustResult(t, resp.Logs, "response_headers", "get 2 :status") != "0 503" {
			t.Errorf("got %d local=%v", resp.Status, resp.Local)
		}
	})
}
