package core

import (
	"strings"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/filter/internal/proxywasm"
)

// fakeHost records what the core asks of the proxy. Request headers are a
// live map that, like Envoy's, becomes read-only once the headers callback
// has returned Continue (frozen).
type fakeHost struct {
	reqHeaders  [][2]string
	frozen      bool
	writesAfter int // header writes attempted while frozen

	reqBody, respBody []byte
	scratch           []byte // see reused
	respHeaders       [][2]string

	local        *localReply
	call         *callout
	props        map[string]string
	logs         []string
	now          int64
	noRewrite    bool
	metrics      map[string]int64
	activations  int
	headerWrites int
	continued    int // ContinueResponse calls
	clientAddr   string
	addrReads    int // ClientAddress calls
}

type localReply struct {
	status  int
	headers [][2]string
	body    []byte
}

type callout struct {
	cluster string
	headers [][2]string
	body    []byte
	timeout uint32
}

func newFakeHost(headers ...[2]string) *fakeHost {
	return &fakeHost{reqHeaders: headers, props: map[string]string{}, now: 1e18}
}

func get(h [][2]string, k string) (string, bool) {
	for _, kv := range h {
		if kv[0] == k {
			return kv[1], true
		}
	}
	return "", false
}

// SetRequestHeader and RemoveRequestHeader edit the map like Envoy's
// replace and remove: every value of the name goes.
func (f *fakeHost) SetRequestHeader(k, v string) {
	if f.wrote() {
		f.removeReq(k)
		f.reqHeaders = append(f.reqHeaders, [2]string{k, v})
	}
}

func (f *fakeHost) RemoveRequestHeader(k string) {
	if f.wrote() {
		f.removeReq(k)
	}
}

func (f *fakeHost) wrote() bool {
	if f.frozen {
		f.writesAfter++
		return false
	}
	f.headerWrites++
	return true
}

func (f *fakeHost) removeReq(k string) {
	out := make([][2]string, 0, len(f.reqHeaders)+1)
	for _, kv := range f.reqHeaders {
		if kv[0] != k {
			out = append(out, kv)
		}
	}
	f.reqHeaders = out
}

// RequestBody and ResponseBody hand out a buffer that the next call
// overwrites, after scribbling on it, as the Wasm shell reuses its buffers:
// a core that keeps body bytes past the callback reads garbage.
func (f *fakeHost) RequestBody(n int) []byte { return f.reused(f.reqBody[:min(n, len(f.reqBody))]) }

func (f *fakeHost) reused(b []byte) []byte {
	for i := range f.scratch {
		f.scratch[i] = '#'
	}
	f.scratch = append(f.scratch[:0], b...)
	return f.scratch
}

func (f *fakeHost) ReplaceRequestBody(b []byte) bool {
	if f.noRewrite {
		return false
	}
	f.reqBody = append([]byte(nil), b...)
	return true
}
func (f *fakeHost) SetResponseHeader(k, v string) {
	for i, kv := range f.respHeaders {
		if kv[0] == k {
			f.respHeaders[i][1] = v
			return
		}
	}
	f.respHeaders = append(f.respHeaders, [2]string{k, v})
}
func (f *fakeHost) RemoveResponseHeader(k string) {
	out := f.respHeaders[:0]
	for _, kv := range f.respHeaders {
		if kv[0] != k {
			out = append(out, kv)
		}
	}
	f.respHeaders = out
}
func (f *fakeHost) ResponseBody(n int) []byte { return f.reused(f.respBody[:min(n, len(f.respBody))]) }
func (f *fakeHost) ReplaceResponseBody(b []byte) bool {
	f.respBody = append([]byte(nil), b...)
	return true
}
func (f *fakeHost) SendLocal(status int, headers [][2]string, body []byte) {
	f.local = &localReply{status, headers, body}
}
func (f *fakeHost) Call(cluster string, headers [][2]string, body []byte, timeout uint32) bool {
	f.call = &callout{cluster, headers, body, timeout}
	return true
}
func (f *fakeHost) ContinueRequest()  {}
func (f *fakeHost) ContinueResponse() { f.continued++ }
func (f *fakeHost) ClientAddress() string {
	f.addrReads++
	return f.clientAddr
}

// fakeMetrics are the metric ids of the test process: like a VM's, shared by
// every stream (and so every fakeHost) of a plugin.
var fakeMetrics struct {
	ids   map[string]uint32
	names []string
}

func (f *fakeHost) DefineMetric(kind MetricKind, name string) (uint32, bool) {
	if fakeMetrics.ids == nil {
		fakeMetrics.ids = map[string]uint32{}
	}
	id, ok := fakeMetrics.ids[name]
	if !ok {
		id = uint32(len(fakeMetrics.names))
		fakeMetrics.ids[name] = id
		fakeMetrics.names = append(fakeMetrics.names, name)
	}
	return id, true
}
func (f *fakeHost) RecordMetric(kind MetricKind, id uint32, v int64) {
	if f.metrics == nil {
		f.metrics = map[string]int64{}
	}
	if kind == Gauge { // a gauge is set, as proxy_record_metric does
		f.metrics[fakeMetrics.names[id]] = v
		return
	}
	f.metrics[fakeMetrics.names[id]] += v
}

// SetProperty copies the value, as hosts do: the core may reuse its bytes.
func (f *fakeHost) SetProperty(k, v string) { f.props[k] = strings.Clone(v) }
func (f *fakeHost) Log(_ Level, msg string) { f.logs = append(f.logs, msg) }
func (f *fakeHost) NowNanos() int64         { f.now += 1e6; return f.now }
func (f *fakeHost) logged(sub string) bool {
	for _, l := range f.logs {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func (f *fakeHost) Activate() { f.activations++ }

// fakeRoot is the root context: shared data with proxy-wasm CAS rules.
type fakeRoot struct {
	data proxywasm.MemStore
	tick uint32
	now  int64

	calls  []fakeCall // root callouts, in order
	logs   []string
	gauges map[string]int64
	names  []string // metric names by id
	refuse bool     // Call fails
	// shared, when set, is the shared data instead of data: several roots
	// (workers) over one store.
	shared *proxywasm.MemStore
}

// fakeCall is a root callout as the fake host saw it.
type fakeCall struct {
	id        uint32
	cluster   string
	headers   [][2]string
	body      []byte
	timeoutMS uint32
}

func (r *fakeRoot) Call(cluster string, headers [][2]string, body []byte, timeoutMS uint32) (uint32, bool) {
	if r.refuse {
		return 0, false
	}
	id := uint32(len(r.calls) + 1)
	r.calls = append(r.calls, fakeCall{id, cluster, headers, body, timeoutMS})
	return id, true
}
func (r *fakeRoot) Log(_ Level, msg string) { r.logs = append(r.logs, msg) }
func (r *fakeRoot) DefineMetric(_ MetricKind, name string) (uint32, bool) {
	r.names = append(r.names, name)
	return uint32(len(r.names) - 1), true
}
func (r *fakeRoot) SetGauge(id uint32, v int64) {
	if r.gauges == nil {
		r.gauges = map[string]int64{}
	}
	r.gauges[r.names[id]] = v
}

func newFakeRoot() *fakeRoot {
	return &fakeRoot{now: 1.7e18}
}

func (r *fakeRoot) SharedData() proxywasm.Store {
	if r.shared != nil {
		return r.shared
	}
	return &r.data
}
func (r *fakeRoot) SetTickPeriod(ms uint32) { r.tick = ms }
func (r *fakeRoot) NowNanos() int64         { return r.now }
