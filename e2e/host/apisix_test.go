package host_test

import (
	"strings"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
)

func apisix(t *testing.T, script string) *host.Plugin {
	return newEcho(t, host.VMConfig{Profile: host.APISIX, PluginName: "ai-gw"}, script)
}

// TestAPISIXCallbacks: headers callbacks get num_headers 0 and
// end_of_stream 1; the request body comes once, whole, only after
// wasm_process_req_body was set; the response body per chunk only after
// wasm_process_resp_body (docs/host-behaviours.md#apisix-bodies).
func TestAPISIXCallbacks(t *testing.T) {
	script := `
request_headers args
request_headers setprop wasm_process_req_body 1
request_body args
request_body get_body 0 0 all
request_body get_body 0 5 1
response_headers args
response_headers setprop wasm_process_resp_body 1
response_body args
response_body set_body 1 0 0 x
`
	rec := &recorder{chunks: []string{"one", "two"}}
	resp, err := apisix(t, script).Do(ctxT(t), &host.Request{BodyChunks: [][]byte{[]byte("ab"), []byte("cd")}}, host.Options{Upstream: rec.upstream})
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, l := range resp.Logs {
		if r, ok := strings.CutPrefix(l.Msg, "response_body: args -> 0 "); ok {
			bodies = append(bodies, r)
		}
	}
	for _, c := range []struct{ cb, cmd, want string }{
		{"request_headers", "args", "0 n=0 size=0 eos=true"},
		{"request_body", "args", "0 n=0 size=4 eos=true"},
		{"request_body", "get_body 0 0 all", "0 abcd"},
		{"request_body", "get_body 0 5 1", "2"}, // start beyond the body
		{"response_headers", "args", "0 n=0 size=4 eos=true"},
		{"response_body", "set_body 1 0 0 x", "12"}, // no body rewrite on APISIX
	} {
		if got := mustResult(t, resp.Logs, c.cb, c.cmd); got != c.want {
			t.Errorf("%s %s = %q, want %q", c.cb, c.cmd, got, c.want)
		}
	}
	if n := strings.Count(dump(resp.Logs), "request_body: args"); n != 1 {
		t.Errorf("the request body came %d times, want once", n)
	}
	if got := strings.Join(bodies, "|"); got != "n=0 size=3 eos=false|n=0 size=3 eos=false|n=0 size=0 eos=true" {
		t.Errorf("response body callbacks %s", got)
	}
	if string(rec.reqs[0].Body) != "abcd" || string(resp.Body) != "onetwo" {
		t.Errorf("upstream %q, downstream %q", rec.reqs[0].Body, resp.Body)
	}

	// Without the variables there are no body callbacks; an empty body
	// reads as NOT_FOUND.
	resp, err = apisix(t, "request_body args\nresponse_body args").Do(ctxT(t), &host.Request{Body: []byte("x")}, host.Options{Upstream: (&recorder{chunks: []string{"y"}}).upstream})
	if err != nil || hasLog(resp.Logs, "args") {
		t.Errorf("body callbacks without the variables: %v\n%s", err, dump(resp.Logs))
	}
	resp, err = apisix(t, "request_headers setprop wasm_process_req_body 1\nrequest_body get_body 0 0 10").Do(ctxT(t), &host.Request{}, host.Options{Upstream: (&recorder{}).upstream})
	if err != nil || mustResult(t, resp.Logs, "request_body", "get_body 0 0 10") != "1" {
		t.Errorf("an empty request body: %v\n%s", err, dump(resp.Logs))
	}
}

// TestAPISIXReturnValues: only 0, or 1 with a dispatched call, are safe
// from a request callback (docs/host-behaviours.md#apisix-callouts).
func TestAPISIXReturnValues(t *testing.T) {
	for _, tc := range []struct{ ret, want string }{{"1", "NULL"}, {"2", "loops forever"}, {"4", "loops forever"}} {
		_, err := apisix(t, "request_headers return "+tc.ret).Do(ctxT(t), &host.Request{}, host.Options{Upstream: (&recorder{}).upstream})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("return %s: got %v, want an error about %q", tc.ret, err, tc.want)
		}
	}
}

// TestAPISIXLocalResponse: honoured from request callbacks (the code check
// wins over a returned 1) and then seen by header_filter; ignored from
// response callbacks except for the headers (§9.2(b)).
func TestAPISIXLocalResponse(t *testing.T) {
	rec := &recorder{}
	resp, err := apisix(t, "request_headers local 429 slow~down x-why=quota\nrequest_headers return 1\nresponse_headers get 2 :status").
		Do(ctxT(t), &host.Request{}, host.Options{Upstream: rec.upstream})
	if err != nil {
		t.Fatal(err)
	}
	why, _ := resp.Get("x-why")
	if resp.Status != 429 || string(resp.Body) != "slow down" || why != "quota" || !resp.Local || len(rec.reqs) != 0 {
		t.Errorf("got %+v", resp)
	}
	if got := mustResult(t, resp.Logs, "response_headers", "get 2 :status"); got != "0 429" {
		t.Errorf("header_filter saw %q", got)
	}

	resp, err = apisix(t, "response_headers local 500 nope x-late=1").Do(ctxT(t), &host.Request{}, host.Options{Upstream: (&recorder{chunks: []string{"fine"}}).upstream})
	if err != nil {
		t.Fatal(err)
	}
	late, _ := resp.Get("x-late")
	if resp.Status != 200 || string(resp.Body) != "fine" || late != "1" {
		t.Errorf("a local response from header_filter: %d %q x-late=%q", resp.Status, resp.Body, late)
	}
}

// TestAPISIXHeadersAndVariables: :path sets the URI (reads still give the
// unparsed one), request headers are read-only after the request phase,
// properties are nginx variables that must be declared to be written.
func TestAPISIXHeadersAndVariables(t *testing.T) {
	script := `
configure prop plugin_root_id
configure prop uri
request_headers replace 0 :path /rewritten
request_headers get 0 :path
request_headers replace 0 :scheme https
request_headers prop uri
request_headers prop request_uri
request_headers prop http_x_foo
request_headers prop remote_addr
request_headers prop host
request_headers prop arg_a
request_headers prop nope
request_headers prop plugin_root_id
request_headers setprop llm_model m1
request_headers setprop custom v
request_headers setprop uri /x
request_headers prop llm_model
request_headers set_body 0 0 0 x
request_headers tick_period 10
request_headers status
request_headers continue 0
request_headers close 1
request_headers effective 999
response_headers add 0 x-late v
response_headers replace 2 :status 201
response_headers get_pairs 2
`
	plugin := apisix(t, script)
	rec := &recorder{header: [][2]string{{"content-type", "text/plain"}}}
	resp, err := plugin.Do(ctxT(t), &host.Request{Path: "/orig?a=1", Authority: "Api.Example:9080",
		Header: [][2]string{{"X-Foo", "bar"}}, RemoteAddr: "10.1.2.3:5555"}, host.Options{Upstream: rec.upstream})
	if err != nil {
		t.Fatal(err)
	}
	logs := plugin.VM().Logs()
	if got := mustResult(t, logs, "configure", "prop plugin_root_id"); got != "0 ai-gw" {
		t.Errorf("plugin_root_id in configure = %q, want the plugin name", got)
	}
	if got := mustResult(t, logs, "configure", "prop uri"); got != "2" {
		t.Errorf("a variable without a request = %q, want BAD_ARGUMENT", got)
	}
	for _, c := range []struct{ cb, cmd, want string }{
		{"request_headers", "replace 0 :path /rewritten", "0"},
		{"request_headers", "get 0 :path", "0 /orig?a=1"},
		{"request_headers", "replace 0 :scheme https", "2"},
		{"request_headers", "prop uri", "0 /rewritten"},
		{"request_headers", "prop request_uri", "0 /orig?a=1"},
		{"request_headers", "prop http_x_foo", "0 bar"},
		{"request_headers", "prop remote_addr", "0 10.1.2.3"},
		{"request_headers", "prop host", "0 api.example"},
		{"request_headers", "prop arg_a", "0 1"},
		{"request_headers", "prop nope", "1"},
		{"request_headers", "prop plugin_root_id", "0 ai-gw"},
		{"request_headers", "setprop llm_model m1", "0"},
		{"request_headers", "setprop custom v", "1"},
		{"request_headers", "setprop uri /x", "10"},
		{"request_headers", "prop llm_model", "0 m1"},
		{"request_headers", "set_body 0 0 0 x", "12"},
		{"request_headers", "tick_period 10", "12"},
		{"request_headers", "status", "12 0"},
		{"request_headers", "continue 0", "0"},
		{"request_headers", "close 1", "0"},
		{"request_headers", "effective 999", "0"},
		{"response_headers", "add 0 x-late v", "2"},
		{"response_headers", "replace 2 :status 201", "0"},
		{"response_headers", "get_pairs 2", "0 content-type=text/plain;:status=201"},
	} {
		if got := mustResult(t, resp.Logs, c.cb, c.cmd); got != c.want {
			t.Errorf("%s %s = %q, want %q", c.cb, c.cmd, got, c.want)
		}
	}
	u := rec.reqs[0]
	if u.Path != "/rewritten?a=1" || u.Authority != "Api.Example:9080" {
		t.Errorf("upstream %s %s: want the rewritten URI with the original args and Host", u.Authority, u.Path)
	}
	if resp.Status != 201 || resp.FilterState["llm_model"] != "m1" {
		t.Errorf("status %d, filter state %v", resp.Status, resp.FilterState)
	}
}

// TestAPISIXCallOutsideRequest: wasm-nginx-module dereferences a NULL
// request when proxy_http_call runs outside one.
func TestAPISIXCallOutsideRequest(t *testing.T) {
	vm, err := echoModule(t, host.APISIX).NewVM(ctxT(t), host.VMConfig{Profile: host.APISIX})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	_, err = vm.NewPlugin([]byte("configure call svc:80 GET / 0"))
	if err == nil || !strings.Contains(err.Error(), "NULL request") {
		t.Errorf("got %v", err)
	}
}

func TestAPISIXConf(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"conf":"{\"a\":1}"}`, `{"a":1}`},
		{`{"conf":{"url":"https://api.openai.com/v1","tags":[],"n":1.0,"big":123456789012345678,"x":0.1,"ok":true}}`,
			`{"big":1.2345678901235e+17,"n":1,"ok":true,"tags":{},"url":"https:\/\/api.openai.com\/v1","x":0.1}`},
		{`{"other":1}`, `{"other":1}`},
		{`not json`, `not json`},
	} {
		if got := string(host.APISIXConf([]byte(tc.in))); got != tc.want {
			t.Errorf("APISIXConf(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
