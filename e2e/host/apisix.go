package host

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// APISIX phases of a stream.
const (
	axRequest  = iota // access phase: request callbacks and the call response
	axResponse        // header_filter
	axBody            // body_filter: headers are gone
)

// apisixStream is the nginx side of a request on the APISIX profile.
type apisixStream struct {
	phase          int
	method, uri    string
	args, unparsed string
	host0          string // $http_host when the location started
	scheme         string
	status         int
	call           *apisixCall       // registered, not started
	callResp       *callResult       // during proxy_on_http_call_response
	vars           map[string]string // declared variables the filter set
}

type apisixCall struct {
	id       uint32
	upstream string
	h        headerMap
	body     []byte
	timeout  int32
}

// apisixVars are the nginx variables APISIX declares with `set $x ”`:
// only those can be written with proxy_set_property
// (docs/host-behaviours.md#apisix-variables; APISIX 3.14 and 3.18 ngx_tpl.lua).
var apisixVars = map[string]bool{
	"llm_model": true, "request_llm_model": true, "llm_prompt_tokens": true, "llm_completion_tokens": true,
	"llm_total_tokens": true, "llm_time_to_first_token": true, "request_type": true, "llm_content_risk_level": true,
	"llm_stream": true, "llm_has_tool_calls": true, "llm_tool_count": true, "llm_end_user_id": true,
	"llm_cache_read_input_tokens": true, "llm_cache_creation_input_tokens": true, "llm_reasoning_tokens": true,
	"wasm_process_req_body": true, "wasm_process_resp_body": true,
}

// apisixBuiltinVars are nginx variables that exist but cannot be set.
var apisixBuiltinVars = map[string]bool{
	"uri": true, "request_uri": true, "args": true, "query_string": true, "is_args": true,
	"request_method": true, "host": true, "scheme": true, "remote_addr": true, "remote_port": true,
	"server_addr": true, "server_port": true, "content_length": true, "content_type": true, "status": true,
}

// apisixReq is the request a host call acts on (NGX must_get_req): the
// stream of the running callback; nil in proxy_on_configure.
func (vm *VM) apisixReq() *stream {
	if c := vm.cur; c != nil {
		return c.s
	}
	return nil
}

// apisixEnv is wasm-nginx-module's "env" (NGX src/http/ngx_http_wasm_api.c;
// docs/host-behaviours.md#apisix). It lacks
// proxy_get_log_level, proxy_get_header_map_size and
// proxy_get_buffer_status, and declares proxy_get_metric as (i32,i64).
func apisixEnv() []hostFunc {
	unimplemented, ok := answer(stUnimplemented), answer(stOK)
	return []hostFunc{
		{"proxy_log", i32s(3), ret32, func(vm *VM, s []uint64) uint32 {
			msg, ok := vm.readString(uint32(s[1]), uint32(s[2]))
			if !ok {
				return stInvalidMemoryAccess
			}
			level := LogLevel(uint32(s[0]))
			if level > LogCritical {
				level = LogError // NGX default: NGX_LOG_ERR
			}
			vm.logf(level, msg)
			return stOK
		}},
		{"proxy_get_current_time_nanoseconds", i32s(1), ret32, unimplemented},
		{"proxy_set_tick_period_milliseconds", i32s(1), ret32, unimplemented},
		{"proxy_done", nil, ret32, unimplemented},
		{"proxy_set_effective_context", i32s(1), ret32, ok}, // "dummy function to make plugin load"
		{"proxy_get_buffer_bytes", i32s(5), ret32, apisixGetBufferBytes},
		{"proxy_set_buffer_bytes", i32s(5), ret32, unimplemented}, // no body rewrite on APISIX
		{"proxy_get_header_map_pairs", i32s(3), ret32, apisixGetHeaderMapPairs},
		{"proxy_set_header_map_pairs", i32s(3), ret32, ok}, // a no-op in NGX
		{"proxy_get_header_map_value", i32s(5), ret32, apisixGetHeaderMapValue},
		{"proxy_add_header_map_value", i32s(5), ret32, apisixEditHeader(false, false)},
		{"proxy_replace_header_map_value", i32s(5), ret32, apisixEditHeader(true, false)},
		{"proxy_remove_header_map_value", i32s(3), ret32, apisixEditHeader(true, true)},
		{"proxy_continue_stream", i32s(1), ret32, ok}, // NGX calls are synchronous
		{"proxy_close_stream", i32s(1), ret32, ok},
		{"proxy_get_status", i32s(3), ret32, unimplemented},
		{"proxy_send_local_response", i32s(8), ret32, apisixSendLocalResponse},
		{"proxy_http_call", i32s(10), ret32, apisixHTTPCall},
		{"proxy_grpc_call", i32s(12), ret32, unimplemented},
		{"proxy_grpc_stream", i32s(9), ret32, unimplemented},
		{"proxy_grpc_send", i32s(4), ret32, unimplemented},
		{"proxy_grpc_cancel", i32s(1), ret32, unimplemented},
		{"proxy_grpc_close", i32s(1), ret32, unimplemented},
		{"proxy_set_shared_data", i32s(5), ret32, unimplemented},
		{"proxy_get_shared_data", i32s(5), ret32, unimplemented},
		{"proxy_register_shared_queue", i32s(3), ret32, unimplemented},
		{"proxy_resolve_shared_queue", i32s(5), ret32, unimplemented},
		{"proxy_enqueue_shared_queue", i32s(3), ret32, unimplemented},
		{"proxy_dequeue_shared_queue", i32s(3), ret32, unimplemented},
		{"proxy_define_metric", i32s(4), ret32, ok}, // metrics are no-ops
		{"proxy_increment_metric", sig("i32,i64"), ret32, ok},
		{"proxy_record_metric", sig("i32,i64"), ret32, ok},
		{"proxy_get_metric", sig("i32,i64"), ret32, ok}, // mis-declared in NGX
		{"proxy_get_property", i32s(4), ret32, getProperty((*VM).apisixProperty)},
		{"proxy_set_property", i32s(4), ret32, apisixSetProperty},
		{"proxy_call_foreign_function", i32s(6), ret32, unimplemented},
		{"proxy_get_configuration", i32s(2), ret32, func(vm *VM, s []uint64) uint32 {
			return vm.copyOut(vm.apisixConf(), uint32(s[0]), uint32(s[1]))
		}},
	}
}

// apisixConf is the plugin configuration of the running callback's root.
func (vm *VM) apisixConf() []byte {
	if c := vm.cur; c != nil {
		return c.p.config
	}
	return nil
}

func apisixGetBufferBytes(vm *VM, s []uint64) uint32 {
	t, start, size := uint32(s[0]), int32(uint32(s[1])), int32(uint32(s[2]))
	var data []byte
	switch t {
	case bufPluginConfig:
		// "configuration is fetched as a whole"
		if data = vm.apisixConf(); len(data) == 0 {
			return stNotFound
		}
		return vm.copyOut(data, uint32(s[3]), uint32(s[4]))
	case bufCallResponseBody, bufRequestBody, bufResponseBody:
		st := vm.apisixReq()
		if st == nil {
			return stBadArgument
		}
		if t == bufCallResponseBody {
			if r := st.ax.callResp; r != nil {
				data = r.body
			}
		} else if d := &st.dir[t]; d.bodyOpen {
			data = d.body
		}
	default:
		return stUnimplemented
	}
	n := int32(len(data))
	if n == 0 {
		return stNotFound
	}
	if start < 0 || size <= 0 || start >= n {
		return stBadArgument
	}
	if int64(start)+int64(size) > int64(n) {
		size = n - start
	}
	return vm.copyOut(data[start:start+size], uint32(s[3]), uint32(s[4]))
}

// apisixRequestMap is the request header map NGX serializes: the headers,
// then :path (the unparsed URI), :method and :scheme.
func (st *stream) apisixRequestMap() [][2]string {
	h := append([][2]string(nil), st.reqH...)
	return append(h, [2]string{":path", st.ax.unparsed}, [2]string{":method", st.ax.method}, [2]string{":scheme", st.ax.scheme})
}

func (st *stream) apisixResponseMap() [][2]string {
	h := append([][2]string(nil), st.respH...)
	if st.ax.status != 0 {
		h = append(h, [2]string{":status", strconv.Itoa(st.ax.status)})
	}
	return h
}

func apisixGetHeaderMapPairs(vm *VM, s []uint64) uint32 {
	st := vm.apisixReq()
	if st == nil {
		return stBadArgument
	}
	var h [][2]string
	switch uint32(s[0]) {
	case mapRequestHeaders:
		h = st.apisixRequestMap()
	case mapResponseHeaders:
		h = st.apisixResponseMap()
	case mapCallResponseHeaders:
		if st.ax.callResp == nil || len(st.ax.callResp.headers) == 0 {
			return stNotFound
		}
		h = st.ax.callResp.headers
	default:
		return stBadArgument
	}
	return vm.copyOutPairs(h, uint32(s[1]), uint32(s[2]))
}

func apisixGetHeaderMapValue(vm *VM, s []uint64) uint32 {
	st := vm.apisixReq()
	if st == nil {
		return stBadArgument
	}
	key, ok := vm.readString(uint32(s[1]), uint32(s[2]))
	if !ok {
		return stInvalidMemoryAccess
	}
	var v string
	var found bool
	switch uint32(s[0]) {
	case mapRequestHeaders:
		switch lower(key) {
		case ":path":
			v, found = st.ax.unparsed, true
		case ":method":
			v, found = st.ax.method, true
		case ":scheme":
			v, found = st.ax.scheme, true
		case ":authority":
			v, found = st.reqH.get("host")
		default:
			v, found = st.reqH.get(key)
		}
	case mapResponseHeaders:
		if lower(key) == ":status" {
			v, found = strconv.Itoa(st.ax.status), true
		} else {
			v, found = st.respH.get(key)
		}
	default:
		return stBadArgument
	}
	if !found {
		return stNotFound
	}
	return vm.copyOut([]byte(v), uint32(s[3]), uint32(s[4]))
}

// apisixEditHeader implements add (override=false), replace and remove
// through lua-resty-core's set_req_header / set_resp_header: request
// headers only in the request phase, response headers until they are sent;
// :path sets the URI, :status the status, :scheme is read-only.
func apisixEditHeader(override, remove bool) func(*VM, []uint64) uint32 {
	return func(vm *VM, s []uint64) uint32 {
		st := vm.apisixReq()
		if st == nil {
			return stBadArgument
		}
		key, ok1 := vm.readString(uint32(s[1]), uint32(s[2]))
		val, ok2 := "", true
		if !remove {
			val, ok2 = vm.readString(uint32(s[3]), uint32(s[4]))
		}
		if !ok1 || !ok2 {
			return stInvalidMemoryAccess
		}
		return st.apisixEdit(uint32(s[0]), key, val, override, remove)
	}
}

func (st *stream) apisixEdit(t uint32, key, val string, override, remove bool) uint32 {
	key = lower(key)
	var m *headerMap
	switch t {
	case mapRequestHeaders:
		if st.ax.phase != axRequest {
			return stBadArgument // FFI_BAD_CONTEXT
		}
		switch key {
		case ":path":
			if remove {
				return stBadArgument
			}
			st.ax.uri = val
			return stOK
		case ":method":
			if remove {
				return stBadArgument
			}
			st.ax.method = val
			return stOK
		case ":scheme":
			return stBadArgument
		case ":authority":
			key = "host"
		}
		m = &st.reqH
	case mapResponseHeaders:
		if st.ax.phase == axBody {
			return stBadArgument // headers already sent
		}
		if key == ":status" {
			n, err := strconv.Atoi(val)
			if remove || err != nil {
				return stBadArgument
			}
			st.ax.status = n
			return stOK
		}
		m = &st.respH
	default:
		return stBadArgument
	}
	switch {
	case remove:
		m.remove(key)
	case override:
		m.set(key, val)
	default:
		m.add(key, val)
	}
	return stOK
}

// apisixSendLocalResponse records code and body for apisix/wasm.lua to
// send with ngx.exit after the callback, and applies the headers at once
// (NGX proxy_send_http_response). Only request-phase callbacks and the
// call response honour it (docs/host-behaviours.md#apisix-local-replies).
func apisixSendLocalResponse(vm *VM, s []uint64) uint32 {
	st := vm.apisixReq()
	if st == nil {
		return stBadArgument
	}
	_, ok1 := vm.read(uint32(s[1]), uint32(s[2]))
	body, ok2 := vm.read(uint32(s[3]), uint32(s[4]))
	hdrs, ok3 := vm.read(uint32(s[5]), uint32(s[6]))
	if !ok1 || !ok2 || !ok3 {
		return stInvalidMemoryAccess
	}
	for _, kv := range parsePairs(hdrs) {
		if st.apisixEdit(mapResponseHeaders, kv[0], kv[1], false, false) != stOK {
			return stBadArgument
		}
	}
	if st.ax.phase == axRequest {
		st.local = &localReply{status: int(uint32(s[0])), body: bytes.Clone(body)}
	}
	return stOK
}

// apisixHTTPCall registers the request's one callout; apisix/wasm.lua runs
// it after the callback returns (docs/host-behaviours.md#apisix-callouts).
func apisixHTTPCall(vm *VM, s []uint64) uint32 {
	st := vm.apisixReq()
	if st == nil {
		// NGX reads r->connection->log from a NULL request here.
		panic(errors.New("apisix: proxy_http_call outside a request dereferences a NULL request in wasm-nginx-module (nginx worker crash)"))
	}
	if st.ax.phase != axRequest {
		vm.logf(LogError, "http call is only supported during processing HTTP request")
		return stBadArgument
	}
	up, ok1 := vm.readString(uint32(s[0]), uint32(s[1]))
	hb, ok2 := vm.read(uint32(s[2]), uint32(s[3]))
	body, ok3 := vm.read(uint32(s[4]), uint32(s[5]))
	if !ok1 || !ok2 || !ok3 {
		return stInvalidMemoryAccess
	}
	if !validNgxURL(up) {
		vm.logf(LogError, "http call gets invalid host: "+up)
		return stBadArgument
	}
	if st.ax.call != nil {
		vm.logf(LogError, "multiple calls are not supported")
		return stInternalFailure
	}
	var h headerMap
	h.addAll(parsePairs(hb))
	// Callout ids: a per-worker counter starting at 0.
	st.ax.call = &apisixCall{id: vm.nextCall, upstream: up, h: h, body: bytes.Clone(body), timeout: int32(uint32(s[8]))}
	vm.nextCall++
	return okOrMem(vm.putU32(uint32(s[9]), st.ax.call.id))
}

// validNgxURL accepts what ngx_parse_url(no_resolve) takes as host[:port].
func validNgxURL(u string) bool {
	if u == "" || strings.ContainsAny(u, "/ ?#") {
		return false
	}
	host, port, err := net.SplitHostPort(u)
	if err != nil {
		return !strings.Contains(u, ":") || strings.HasPrefix(u, "[")
	}
	n, err := strconv.Atoi(port)
	return host != "" && err == nil && n > 0 && n < 65536
}

// apisixProperty answers proxy_get_property with an nginx variable;
// plugin_root_id is the plugin's name, request or not (NGX).
func (vm *VM) apisixProperty(path string) ([]byte, uint32) {
	if path == "plugin_root_id" {
		return []byte(vm.cfg.PluginName), stOK
	}
	st := vm.apisixReq()
	if st == nil {
		return nil, stBadArgument
	}
	v, found := st.ngxVar(path)
	if !found {
		return nil, stNotFound
	}
	return []byte(v), stOK
}

func apisixSetProperty(vm *VM, s []uint64) uint32 {
	st := vm.apisixReq()
	if st == nil {
		return stBadArgument
	}
	name, ok1 := vm.readString(uint32(s[0]), uint32(s[1]))
	val, ok2 := vm.readString(uint32(s[2]), uint32(s[3]))
	if !ok1 || !ok2 {
		return stInvalidMemoryAccess
	}
	name = lower(name)
	switch {
	case apisixVars[name]:
		if st.ax.vars == nil {
			st.ax.vars = map[string]string{}
		}
		st.ax.vars[name] = val
		st.setFilterState(name, val)
		return stOK
	case apisixBuiltinVars[name]:
		vm.logf(LogError, "variable \""+name+"\" not changeable")
		return stInternalFailure
	}
	vm.logf(LogError, "variable \""+name+"\" not found for writing")
	return stNotFound
}

// ngxVar reads an nginx variable by name.
func (st *stream) ngxVar(name string) (string, bool) {
	name = lower(name)
	if apisixVars[name] {
		return st.ax.vars[name], true
	}
	addr := cmp.Or(st.req.RemoteAddr, "127.0.0.1:50000")
	ip, port, _ := net.SplitHostPort(addr)
	switch name {
	case "uri":
		return st.ax.uri, true
	case "request_uri":
		return st.ax.unparsed, true
	case "args", "query_string":
		return st.ax.args, true
	case "is_args":
		if st.ax.args != "" {
			return "?", true
		}
		return "", true
	case "request_method":
		return st.ax.method, true
	case "host":
		h, _ := st.reqH.get("host")
		if hh, _, err := net.SplitHostPort(h); err == nil {
			h = hh
		}
		return lower(h), true
	case "scheme":
		return st.ax.scheme, true
	case "remote_addr":
		return ip, true
	case "remote_port":
		return port, true
	case "server_addr":
		return "127.0.0.1", true
	case "server_port":
		return "9080", true
	case "content_length":
		return st.reqH.get("content-length")
	case "content_type":
		return st.reqH.get("content-type")
	case "status":
		if st.ax.status != 0 {
			return strconv.Itoa(st.ax.status), true
		}
		return "000", true
	}
	if h, ok := strings.CutPrefix(name, "http_"); ok {
		return ngxHeaderVar(st.reqH, h)
	}
	if h, ok := strings.CutPrefix(name, "sent_http_"); ok {
		return ngxHeaderVar(st.respH, h)
	}
	if a, ok := strings.CutPrefix(name, "arg_"); ok {
		q, err := url.ParseQuery(st.ax.args)
		if err == nil && q.Has(a) {
			return q.Get(a), true
		}
	}
	return "", false
}

// ngxHeaderVar is $http_<name> or $sent_http_<name>: the first header whose
// name, with "-" as "_", is name.
func ngxHeaderVar(h headerMap, name string) (string, bool) {
	for _, kv := range h {
		if strings.ReplaceAll(kv[0], "-", "_") == name {
			return kv[1], true
		}
	}
	return "", false
}

// ---- the exchange ----

// runAPISIX drives a request like apisix/wasm.lua and lua/resty/proxy-wasm
// (docs/host-behaviours.md#apisix): headers callbacks get num_headers 0
// and end_of_stream 1; the request body is delivered once, whole, only if
// wasm_process_req_body was set; the response body per chunk only if
// wasm_process_resp_body was set; return values decide what happens next.
func (s *stream) runAPISIX(ctx context.Context) error {
	vm := s.vm
	req := s.req
	s.ax = apisixStream{method: cmp.Or(req.Method, "GET"), scheme: cmp.Or(req.Scheme, "http"), unparsed: cmp.Or(req.Path, "/")}
	s.ax.uri, s.ax.args, _ = strings.Cut(s.ax.unparsed, "?")
	s.reqH.addAll(req.Header)
	if _, ok := s.reqH.get("host"); !ok {
		s.reqH.add("host", cmp.Or(req.Authority, "localhost"))
	}
	body := bytes.Join(requestChunks(req), nil)
	if _, ok := s.reqH.get("content-length"); !ok && len(body) > 0 {
		s.reqH.add("content-length", strconv.Itoa(len(body)))
	}
	s.ax.host0, _ = s.reqH.get("host")

	if done, err := s.apisixRequestCallback(ctx, vm.fn.reqHeaders, 0, 1); done {
		return err
	}
	if s.ax.vars["wasm_process_req_body"] != "" {
		delete(s.ax.vars, "wasm_process_req_body") // apisix/wasm.lua resets it
		rq := &s.dir[dirRequest]
		rq.body, rq.bodyOpen = body, true
		done, err := s.apisixRequestCallback(ctx, vm.fn.reqBody, uint64(len(body)), 1)
		rq.bodyOpen = false
		if done {
			return err
		}
	}

	// proxy_pass $upstream_scheme://apisix_backend$upstream_uri, Host from
	// $upstream_host (the original $http_host, §9.4).
	u := &UpstreamRequest{Method: s.ax.method, Scheme: "http", Authority: s.ax.host0, Path: s.ax.uri, Body: body}
	if s.ax.args != "" {
		u.Path += "?" + s.ax.args
	}
	for _, kv := range s.reqH {
		if kv[0] != "host" {
			u.Header = append(u.Header, kv)
		}
	}
	s.resp.Upstream = u
	ur, err := s.roundTrip(ctx, ctx, u)
	if err != nil {
		return err
	}
	if ur == nil {
		// nginx's own 502 page, still through header_filter.
		s.ax.status = 502
		s.resp.Local = true
		s.respH.set("content-type", "text/html")
		return s.apisixResponse(ctx, &bodySource{mem: []byte("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n")})
	}
	s.ax.status = ur.Status
	s.respH.addAll(ur.Header)
	return s.apisixResponse(ctx, &bodySource{r: ur.Body})
}

// apisixRequestCallback runs a request-phase callback and the Lua loop
// after it: a registered callout runs (and its response callback, which
// may register the next one); then a local response is sent; otherwise a
// 0 continues, 1 without a callout is a NULL dereference in NGX and any
// other value loops forever in on_http_request.
func (s *stream) apisixRequestCallback(ctx context.Context, f api.Function, a, b uint64) (bool, error) {
	vm := s.vm
	rv := s.callback(f, a, b)
	called := false
	for {
		if vm.dead != nil {
			// apisix/wasm.lua: "failed to run wasm plugin" → 503.
			return true, s.failClosed(vm.dead)
		}
		if call := s.ax.call; call != nil {
			s.ax.call, called = nil, true
			var res *callResult
			s.unlocked(func() { res = vm.apisixCallout(ctx, call) })
			if ctx.Err() != nil {
				return true, ctx.Err()
			}
			if res == nil {
				res = &callResult{} // transport failure: n_headers 0, body 0
			}
			s.ax.callResp = res
			// The callback gets the plugin (root) context id; host calls
			// act on the request, as NGX has no effective context.
			_, _ = vm.invoke(s.c, vm.fn.callResponse, uint64(s.p.id), uint64(call.id), uint64(len(res.headers)), uint64(len(res.body)), 0)
			s.ax.callResp = nil
			continue
		}
		if s.local != nil && s.local.status >= 100 {
			lr := s.local
			s.local = nil
			s.ax.status = lr.status
			s.resp.Local = true
			if _, ok := s.respH.get("content-type"); !ok {
				s.respH.add("content-type", "text/plain")
			}
			return true, s.apisixResponse(ctx, &bodySource{mem: lr.body})
		}
		s.local = nil
		switch {
		case called || rv == 0:
			return false, nil
		case rv == 1:
			return true, errors.New("host: apisix: a request callback returned 1 (Pause) without dispatching an http call: wasm-nginx-module dereferences a NULL callout (worker crash, docs/host-behaviours.md#apisix-callouts)")
		default:
			return true, fmt.Errorf("host: apisix: a request callback returned %d: on_http_request loops forever on it (docs/host-behaviours.md#apisix-callouts)", rv)
		}
	}
}

// apisixResponse runs header_filter and body_filter.
func (s *stream) apisixResponse(ctx context.Context, src *bodySource) error {
	vm := s.vm
	defer src.close()
	s.ax.phase = axResponse
	s.callback(vm.fn.respHeaders, 0, 1) // the return value is ignored
	if vm.dead != nil {
		return s.failClosed(vm.dead)
	}
	s.local = nil
	s.ax.phase = axBody
	s.deliverHeaders(s.ax.status, append([][2]string(nil), s.respH...))
	filter := s.ax.vars["wasm_process_resp_body"] != ""
	rs := &s.dir[dirResponse]
	for !src.done {
		data, eos, err := s.next(src)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			return fmt.Errorf("%w: upstream reset mid-response: %v", ErrReset, err)
		}
		if filter {
			rs.body, rs.bodyOpen = data, true
			s.callback(vm.fn.respBody, uint64(len(data)), b2u(eos))
			rs.bodyOpen = false
			if vm.dead != nil {
				return fmt.Errorf("%w after a VM failure: %w", ErrReset, vm.dead)
			}
		}
		s.emit(data)
	}
	return nil
}

// apisixCallout performs a registered call like lua-resty-http
// request_uri: URL (:scheme or http)://upstream:path, :authority → Host,
// default GET, trailers ignored, the whole body buffered; the headers come
// back lower-cased with :status last; any transport failure is nil
// (docs/host-behaviours.md#apisix-callouts).
func (vm *VM) apisixCallout(ctx context.Context, c *apisixCall) *callResult {
	base, ok := vm.cfg.Clusters(c.upstream)
	if !ok {
		return nil
	}
	path := cmp.Or(headerValue(c.h, ":path"), "/")
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	// httpc:set_timeout bounds each socket operation (connect, send, every
	// read), not the exchange: an answer that keeps coming lives on
	// (https://github.com/ledgetech/lua-resty-http#set_timeout). The idle
	// timer restarts whenever bytes arrive.
	idle := time.Duration(c.timeout) * time.Millisecond
	if c.timeout <= 0 {
		idle = 60 * time.Second // lua_socket_*_timeout default (effect of 0 unverified)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	timer := time.AfterFunc(idle, cancel)
	defer timer.Stop()
	hr, err := httpRequest(ctx, cmp.Or(headerValue(c.h, ":method"), "GET"), base, path, cmp.Or(headerValue(c.h, ":authority"), c.upstream), c.h, c.body)
	if err != nil {
		return nil
	}
	resp, err := vm.client.Do(hr)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var body []byte
	buf := make([]byte, 32<<10)
	for {
		timer.Reset(idle)
		n, err := resp.Body.Read(buf)
		body = append(body, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil
		}
	}
	return &callResult{headers: responseHeaders(resp, true), body: body}
}

// APISIXConf unwraps an APISIX route plugin config {"conf": ...} into what
// the guest receives in proxy_on_configure: a string conf as is, an object
// JSON-encoded the way APISIX's cjson does it (since 3.6.0): keys in no
// particular order (here sorted), empty arrays as {}, "/" escaped, numbers
// with 14 significant digits (docs/host-behaviours.md#apisix-conf). Input
// that is not such an object is returned unchanged.
func APISIXConf(raw []byte) []byte {
	var wrap map[string]json.RawMessage
	if json.Unmarshal(raw, &wrap) != nil || wrap["conf"] == nil {
		return raw
	}
	var str string
	if json.Unmarshal(wrap["conf"], &str) == nil {
		return []byte(str)
	}
	d := json.NewDecoder(bytes.NewReader(wrap["conf"]))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return raw
	}
	if _, ok := v.(map[string]any); !ok {
		return raw
	}
	return cjsonEncode(nil, v)
}

func cjsonEncode(b []byte, v any) []byte {
	switch x := v.(type) {
	case map[string]any:
		b = append(b, '{')
		for i, k := range slices.Sorted(maps.Keys(x)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = cjsonString(b, k)
			b = append(b, ':')
			b = cjsonEncode(b, x[k])
		}
		return append(b, '}')
	case []any:
		if len(x) == 0 {
			return append(b, "{}"...) // an empty Lua table encodes as an object
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = cjsonEncode(b, e)
		}
		return append(b, ']')
	case string:
		return cjsonString(b, x)
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return append(b, x...)
		}
		if f == math.Trunc(f) && math.Abs(f) < 1e14 {
			return strconv.AppendInt(b, int64(f), 10)
		}
		return strconv.AppendFloat(b, f, 'g', 14, 64)
	case bool:
		return strconv.AppendBool(b, x)
	}
	return append(b, "null"...)
}

func cjsonString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', '/':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}
