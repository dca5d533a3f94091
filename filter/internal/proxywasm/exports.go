//go:build wasip1

package proxywasm

import (
	"errors"
	"strconv"
	"strings"
	"unsafe"
)

// Callbacks of proxy-wasm ABI v0.2.1 (docs/proxy-wasm-abi.md#lifecycle). The module
// declares 0_2_1: every host we target accepts it, and Envoy clears the route
// cache automatically when an ABI ≤ 0.2.1 module changes request headers.

//go:wasmexport proxy_abi_version_0_2_1
func proxyABIVersion() {}

// proxyOnMemoryAllocate hands the host a Go-owned buffer for data it
// returns: the armed reusable buffer (see allocInto) when it is not too
// large, else a fresh one. Either way the guest keeps the only reference.
//
//go:wasmexport proxy_on_memory_allocate
func proxyOnMemoryAllocate(size uint32) *byte {
	if size == 0 {
		size = 1
	}
	if dst := allocInto; dst != nil && size <= maxReused {
		allocInto = nil // one allocation per arming
		if cap(*dst) < int(size) {
			*dst = make([]byte, size, max(int(size), 2*cap(*dst)))
		}
		*dst = (*dst)[:size]
		return &(*dst)[0]
	}
	buf := make([]byte, size)
	return &buf[0]
}

// root is a plugin (root) context: one configuration. It is the plugin's
// RootHost.
type root struct {
	id    uint32
	ctx   Root              // nil until configured
	calls map[uint32]uint32 // http call id → stream context id
	// mem is the root's Store where the host has no shared data.
	mem *MemStore
	// nginxVars: properties are nginx variables by name (APISIX's
	// wasm-nginx-module), not Envoy attributes.
	nginxVars bool
}

// SharedData implements RootHost.
func (r *root) SharedData() Store {
	if r.mem != nil {
		return r.mem
	}
	return sharedData{}
}

// sharedData is the host's shared data.
type sharedData struct{}

func (sharedData) Get(k string) ([]byte, uint32, bool) {
	var raw *byte
	var n, cas uint32
	if proxyGetSharedData(strPtr(k), uint32(len(k)), unsafe.Pointer(&raw), &n, &cas) != statusOK {
		return nil, 0, false
	}
	return hostBytes(raw, n), cas, true
}

func (sharedData) Set(k string, v []byte, cas uint32) error {
	switch st := proxySetSharedData(strPtr(k), uint32(len(k)), ptr(v), uint32(len(v)), cas); st {
	case statusOK:
		return nil
	case statusCASMismatch:
		return ErrCASMismatch
	default:
		return errors.New("proxy_set_shared_data " + k + ": status " + strconv.Itoa(int(st)))
	}
}

// SetTickPeriod sets the root's tick period from whatever context is
// effective: the host applies it to that context's root
// (ContextBase::setTimerPeriod in
// https://github.com/proxy-wasm/proxy-wasm-cpp-host/blob/main/src/context.cc),
// so a stream callback may call it and keep its own context for the host
// calls that follow.
func (r *root) SetTickPeriod(ms uint32) {
	proxySetTickPeriodMilliseconds(ms)
}

func (r *root) NowNanos() int64 { return nowNanos() }

// Call implements RootHost: the call is the root's own, marked in calls
// with the root's id, which no stream context shares.
func (r *root) Call(cluster string, headers [][2]string, body []byte, timeoutMS uint32) (uint32, bool) {
	id, ok := httpCall(cluster, headers, body, timeoutMS)
	if ok {
		r.calls[id] = r.id
	}
	return id, ok
}

func (r *root) Log(level Level, msg string) { logMsg(uint32(level), msg) }

func (r *root) DefineMetric(kind MetricKind, name string) (uint32, bool) {
	return defineMetric(kind, name)
}

func (r *root) SetGauge(id uint32, v int64) { proxyRecordMetric(id, uint64(v)) }

// stream is a stream context and the Host it gives its plugin Stream.
// Deleted streams are kept for reuse with their buffers: the request
// headers, which the plugin keeps for the whole request, live in reqHeaders.
type stream struct {
	id   uint32
	root *root
	ctx  Stream

	reqHeaders []byte
	reqPairs   [][2]string
}

var (
	roots   = map[uint32]*root{}
	streams = map[uint32]*stream{}
	free    []*stream // deleted streams, up to maxFree
	// recent caches streams by id modulo its size in front of the map:
	// the callbacks of one request (eight or so) find their stream without
	// hashing. Host context ids grow by one per context.
	recent [256]*stream

	// Buffers for what the plugin reads and drops within one callback:
	// reused by every stream of the VM.
	respHeaders []byte
	respPairs   [][2]string
	reqBody     []byte
	respBody    []byte
)

// maxFree bounds the pool of deleted streams: enough for the concurrency
// of one worker, not a copy of a burst.
const maxFree = 64

//go:wasmexport proxy_on_context_create
func proxyOnContextCreate(id, parent uint32) {
	if parent == 0 {
		roots[id] = &root{id: id, calls: map[uint32]uint32{}}
		return
	}
	r := roots[parent]
	if r == nil || r.ctx == nil {
		return // not configured: the stream passes through untouched
	}
	var s *stream
	if n := len(free); n > 0 {
		s, free = free[n-1], free[:n-1]
		s.id, s.root = id, r
		s.ctx = r.ctx.NewStream(s, s.ctx)
	} else {
		s = &stream{id: id, root: r}
		s.ctx = r.ctx.NewStream(s, nil)
	}
	streams[id] = s
	recent[id%uint32(len(recent))] = s
	countStreams(1)
}

// llm_active_streams is a gauge of the live stream contexts of the
// filter: raised when the host creates one, lowered when it deletes it.
// The host sums it over its VMs (Envoy: one per worker), so it returns to
// 0 once every request's context is gone; one that stays up is a context
// the host never deleted. activeStreams is its id plus one; 0 means not
// defined yet, and noActiveStreams that the host has no metrics.
var (
	activeStreams   uint32
	noActiveStreams bool
)

func countStreams(delta int64) {
	if activeStreams == 0 {
		if noActiveStreams {
			return
		}
		const name = "llm_active_streams"
		var id uint32
		if proxyDefineMetric(uint32(Gauge), strPtr(name), uint32(len(name)), &id) != statusOK {
			noActiveStreams = true
			return
		}
		activeStreams = id + 1
	}
	proxyIncrementMetric(activeStreams-1, delta)
}

// lookup finds a live stream context.
func lookup(id uint32) *stream {
	if s := recent[id%uint32(len(recent))]; s != nil && s.id == id {
		return s
	}
	return streams[id]
}

//go:wasmexport proxy_on_vm_start
func proxyOnVMStart(_ uint32, _ uint32) bool { return true }

//go:wasmexport proxy_on_configure
func proxyOnConfigure(id uint32, size uint32) bool {
	r := roots[id]
	if r == nil {
		r = &root{id: id, calls: map[uint32]uint32{}}
		roots[id] = r
	}
	if plugin == nil {
		logMsg(uint32(LevelError), "proxywasm: no plugin registered")
		return false
	}
	config := getBuffer(bufferPluginConfig, int(size), nil)
	caps := probe()
	kept := r.mem // the current configuration's, should this one fail
	r.mem = nil
	if !caps.SharedData {
		r.mem = &MemStore{} // one per configuration, as its other state
	}
	ctx, err := plugin(config, caps, r)
	if err != nil {
		r.mem = kept
		logMsg(uint32(LevelError), err.Error())
		return false
	}
	r.ctx = ctx
	r.nginxVars = caps.ExplicitBody
	return true
}

// probe finds what the host implements with calls that are harmless on
// every host: APISIX answers UNIMPLEMENTED where Envoy answers normally.
func probe() Caps {
	var c Caps
	// The plugin configuration is immutable: Envoy says BAD_ARGUMENT.
	c.BodyRewrite = proxySetBufferBytes(bufferPluginConfig, 0, 0, nil, 0) != statusUnimplemented
	key := "ai-proxy.probe"
	var raw *byte
	var n, cas uint32
	c.SharedData = proxyGetSharedData(strPtr(key), uint32(len(key)), unsafe.Pointer(&raw), &n, &cas) != statusUnimplemented
	c.Ticks = proxySetTickPeriodMilliseconds(0) != statusUnimplemented
	c.ExplicitBody = !c.BodyRewrite
	return c
}

//go:wasmexport proxy_on_request_headers
func proxyOnRequestHeaders(id uint32, _ uint32, eos bool) uint32 {
	s := lookup(id)
	if s == nil {
		return uint32(Continue)
	}
	return uint32(s.ctx.OnRequestHeaders(getPairs(mapRequestHeaders, &s.reqHeaders, &s.reqPairs), eos))
}

//go:wasmexport proxy_on_request_body
func proxyOnRequestBody(id uint32, size uint32, eos bool) uint32 {
	s := lookup(id)
	if s == nil {
		return uint32(Continue)
	}
	return uint32(s.ctx.OnRequestBody(int(size), eos))
}

//go:wasmexport proxy_on_response_headers
func proxyOnResponseHeaders(id uint32, _ uint32, eos bool) uint32 {
	s := lookup(id)
	if s == nil || !s.ctx.Observing() {
		return uint32(Continue)
	}
	return uint32(s.ctx.OnResponseHeaders(getPairs(mapResponseHeaders, &respHeaders, &respPairs), eos))
}

//go:wasmexport proxy_on_response_body
func proxyOnResponseBody(id uint32, size uint32, eos bool) uint32 {
	s := lookup(id)
	if s == nil || !s.ctx.Observing() {
		return uint32(Continue)
	}
	return uint32(s.ctx.OnResponseBody(int(size), eos))
}

//go:wasmexport proxy_on_http_call_response
func proxyOnHTTPCallResponse(rootID, callID, numHeaders, bodySize, _ uint32) {
	r := roots[rootID]
	if r == nil {
		return
	}
	sid, ok := r.calls[callID]
	delete(r.calls, callID)
	if ok && sid == r.id {
		if r.ctx == nil {
			return
		}
		if numHeaders == 0 {
			r.ctx.OnCallResponse(callID, nil, nil, false)
			return
		}
		r.ctx.OnCallResponse(callID, getPairs(mapCallResponseHeaders, nil, nil), getBuffer(bufferCallResponseBody, int(bodySize), nil), true)
		return
	}
	s := lookup(sid)
	if !ok || s == nil {
		return // the stream ended before its callout answered
	}
	proxySetEffectiveContext(sid)
	if numHeaders == 0 {
		s.ctx.OnCallResponse(nil, nil, false)
		return
	}
	s.ctx.OnCallResponse(getPairs(mapCallResponseHeaders, nil, nil), getBuffer(bufferCallResponseBody, int(bodySize), nil), true)
}

//go:wasmexport proxy_on_tick
func proxyOnTick(id uint32) {
	if r := roots[id]; r != nil && r.ctx != nil {
		r.ctx.OnTick()
	}
}

//go:wasmexport proxy_on_log
func proxyOnLog(id uint32) {
	if s := lookup(id); s != nil {
		s.ctx.OnDone()
	}
}

//go:wasmexport proxy_on_done
func proxyOnDone(id uint32) bool {
	if s := lookup(id); s != nil {
		s.ctx.OnDone()
	}
	return true
}

//go:wasmexport proxy_on_delete
func proxyOnDelete(id uint32) {
	if s := lookup(id); s != nil {
		if len(s.root.calls) > 0 {
			for cid, sid := range s.root.calls {
				if sid == id {
					delete(s.root.calls, cid)
				}
			}
		}
		delete(streams, id)
		countStreams(-1)
		if slot := &recent[id%uint32(len(recent))]; *slot == s {
			*slot = nil
		}
		if len(free) < maxFree {
			s.root = nil
			if cap(s.reqHeaders) > maxReused/16 {
				s.reqHeaders, s.reqPairs = nil, nil
			}
			free = append(free, s)
		}
		return
	}
	delete(roots, id)
}

// Host for a stream context.

func (s *stream) SetRequestHeader(k, v string)      { replaceHeader(mapRequestHeaders, k, v) }
func (s *stream) RemoveRequestHeader(k string)      { removeHeader(mapRequestHeaders, k) }
func (s *stream) RequestBody(n int) []byte          { return getBuffer(bufferRequestBody, n, &reqBody) }
func (s *stream) ReplaceRequestBody(b []byte) bool  { return replaceBuffer(bufferRequestBody, b) }
func (s *stream) SetResponseHeader(k, v string)     { replaceHeader(mapResponseHeaders, k, v) }
func (s *stream) RemoveResponseHeader(k string)     { removeHeader(mapResponseHeaders, k) }
func (s *stream) ResponseBody(n int) []byte         { return getBuffer(bufferResponseBody, n, &respBody) }
func (s *stream) ReplaceResponseBody(b []byte) bool { return replaceBuffer(bufferResponseBody, b) }
func (s *stream) ContinueRequest()                  { proxyContinueStream(streamRequest) }
func (s *stream) ContinueResponse()                 { proxyContinueStream(streamResponse) }
func (s *stream) Activate()                         { proxySetEffectiveContext(s.id) }
func (s *stream) Log(level Level, msg string)       { logMsg(uint32(level), msg) }
func (s *stream) NowNanos() int64                   { return nowNanos() }

func (s *stream) SetProperty(k, v string) {
	proxySetProperty(strPtr(k), uint32(len(k)), strPtr(v), uint32(len(v)))
}

// ClientAddress reads Envoy's source.address attribute
// (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes),
// or on APISIX the nginx variables wasm-nginx-module reads by name
// (https://github.com/api7/wasm-nginx-module, proxy_get_property), which
// must not be asked for Envoy's path: nginx knows no such variable.
func (s *stream) ClientAddress() string {
	if !s.root.nginxVars {
		return getProperty("source\x00address")
	}
	ip, port := getProperty("remote_addr"), getProperty("remote_port")
	if ip == "" || port == "" {
		return ip
	}
	if strings.IndexByte(ip, ':') >= 0 {
		return "[" + ip + "]:" + port
	}
	return ip + ":" + port
}

func (s *stream) DefineMetric(kind MetricKind, name string) (uint32, bool) {
	return defineMetric(kind, name)
}

func defineMetric(kind MetricKind, name string) (uint32, bool) {
	st := proxyDefineMetric(uint32(kind), strPtr(name), uint32(len(name)), &retLen)
	return retLen, st == statusOK
}

func (s *stream) RecordMetric(kind MetricKind, id uint32, v int64) {
	if kind == Histogram {
		proxyRecordMetric(id, uint64(v))
	} else {
		proxyIncrementMetric(id, v)
	}
}

func (s *stream) SendLocal(status int, headers [][2]string, body []byte) {
	h := encodePairs(headers)
	proxySendLocalResponse(uint32(status), nil, 0, ptr(body), uint32(len(body)), ptr(h), uint32(len(h)), -1)
}

func (s *stream) Call(cluster string, headers [][2]string, body []byte, timeoutMS uint32) bool {
	id, ok := httpCall(cluster, headers, body, timeoutMS)
	if ok {
		s.root.calls[id] = s.id
	}
	return ok
}

// httpCall dispatches a callout from the current context and returns its id.
func httpCall(cluster string, headers [][2]string, body []byte, timeoutMS uint32) (uint32, bool) {
	h := encodePairs(headers)
	trailers := encodePairs(nil)
	var id uint32
	if proxyHTTPCall(strPtr(cluster), uint32(len(cluster)), ptr(h), uint32(len(h)), ptr(body), uint32(len(body)),
		ptr(trailers), uint32(len(trailers)), timeoutMS, &id) != statusOK {
		return 0, false
	}
	return id, true
}
