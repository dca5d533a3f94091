// Package core is the ai-proxy filter's logic without Wasm: configuration,
// the per-request state machine and its decisions. The ABI shell in
// filter/ turns proxy-wasm callbacks into calls on Plugin and Stream and
// implements Host with proxy-wasm host calls; tests implement Host natively.
package core

// Action is what a request or response callback tells the host.
type Action uint32

const (
	// Continue lets the headers or data go on.
	Continue Action = 0
	// Pause holds headers (StopIteration) or buffers data
	// (StopIterationAndBuffer) until the stream is continued.
	Pause Action = 1
	// Consume, from a body callback only, says the filter took the chunk
	// (StopIterationNoBuffer): the host neither forwards nor buffers it,
	// so its buffer limit does not apply. Continue on a later chunk sends
	// that chunk's (replaced) bytes and releases held headers.
	Consume Action = 3
)

// Level is a proxy-wasm log level.
type Level uint32

const (
	LevelTrace Level = iota
	LevelDebug
	LevelInfo
	LevelWarn
	LevelError
	LevelCritical
)

// Caps are what the host can do, probed once at configure time.
type Caps struct {
	// BodyRewrite: proxy_set_buffer_bytes works (not on APISIX).
	BodyRewrite bool
	// SharedData: proxy_get/set_shared_data work (not on APISIX).
	SharedData bool
	// Ticks: proxy_set_tick_period_milliseconds works (not on APISIX).
	Ticks bool
	// ExplicitBody: the request body is delivered only after the filter
	// asks for it with the wasm_process_req_body property (APISIX).
	ExplicitBody bool
}

// Host is the proxy as one stream sees it. Every method is a host call in
// the Wasm build; failures are reported through the return values only where
// the core can act on them.
type Host interface {
	// SetRequestHeader replaces every value of a request header (adding
	// it when absent); RemoveRequestHeader drops every value. Each is one
	// host call that returns no data, the cheapest kind.
	SetRequestHeader(name, value string)
	RemoveRequestHeader(name string)
	RequestBody(size int) []byte
	ReplaceRequestBody(body []byte) bool

	SetResponseHeader(name, value string)
	RemoveResponseHeader(name string)
	ResponseBody(size int) []byte
	ReplaceResponseBody(body []byte) bool

	// SendLocal answers the client instead of the upstream.
	SendLocal(status int, headers [][2]string, body []byte)
	// Call dispatches an HTTP callout; the answer comes to
	// Stream.OnCallResponse.
	Call(cluster string, headers [][2]string, body []byte, timeoutMS uint32) bool
	// ContinueRequest resumes a request paused in a callback.
	ContinueRequest()
	// SetProperty publishes a value for access logs (Envoy filter state
	// wasm.<name>, APISIX nginx variable <name>). The host copies value:
	// it may be reused once the call returns.
	SetProperty(name, value string)

	// DefineMetric returns the id of the metric called name (its labels are
	// in the name, see metrics.go); the same name gives the same id.
	DefineMetric(kind MetricKind, name string) (id uint32, ok bool)
	// RecordMetric adds value to a counter or records it in a histogram.
	RecordMetric(kind MetricKind, id uint32, value int64)

	// Activate makes this stream the target of the host calls that follow,
	// when the core acts on it from a root callback (a tick or a callout
	// answer).
	Activate()

	Log(level Level, msg string)
	// NowNanos is the wall clock.
	NowNanos() int64
}

// RootHost is the proxy as a plugin (root context) sees it.
type RootHost interface {
	// SharedGet and SharedSet are proxy-wasm shared data with CAS: shared
	// by every VM (worker) of the plugin. Only used when Caps.SharedData.
	SharedGet(key string) ([]byte, uint32, bool)
	SharedSet(key string, value []byte, cas uint32) bool
	// SetTickPeriod starts (ms > 0) or stops (0) Plugin.OnTick calls.
	SetTickPeriod(ms uint32)
	NowNanos() int64
}
