// Package proxywasm is the filter's ABI shell: it turns proxy-wasm ABI
// v0.2.1 callbacks into calls on a Plugin's Root and Stream contexts, and
// implements Host and RootHost with proxy-wasm host calls
// (docs/proxy-wasm-abi.md). It knows nothing of AI: a command registers its
// plugin with Register and the one module serves every configuration the
// plugin accepts.
//
// This file is the contract between the shell and a plugin, and builds
// natively so that plugins can be tested without Wasm; the binding itself
// is in the files built for wasip1.
package proxywasm

// Plugin makes the root (plugin) context of one configuration, from
// proxy_on_configure: config is the plugin configuration, which the root
// must not keep (the shell may reuse its bytes); caps is what the host
// can do; host serves the root's host calls. An error fails the
// configuration, and the shell logs it.
type Plugin func(config []byte, caps Caps, host RootHost) (Root, error)

// plugin makes the roots of every configuration (see Register).
var plugin Plugin

// Register sets the plugin the module serves. The command calls it from an
// init function: the host configures roots right after _initialize.
func Register(p Plugin) { plugin = p }

// Root is a configured plugin (a proxy-wasm root context).
type Root interface {
	// NewStream starts the state of one HTTP request on host. reuse, when
	// not nil, is a Stream whose request is done (OnDone called), possibly
	// of another Root of the VM: a Root that recognises it may start the
	// new request in it to keep its buffers.
	NewStream(host Host, reuse Stream) Stream
	// OnTick is called every period set with RootHost.SetTickPeriod.
	OnTick()
	// OnCallResponse answers a RootHost.Call with the id Call returned:
	// ok false when the call failed (no headers came back). Header pairs
	// and body are valid until it returns.
	OnCallResponse(id uint32, headers [][2]string, body []byte, ok bool)
}

// Stream is one HTTP request (a proxy-wasm stream context). Header pairs
// and bodies handed to it point into buffers the shell reuses: they are
// valid until the callback returns, except the request headers, which stay
// valid until the request is done.
type Stream interface {
	OnRequestHeaders(headers [][2]string, endOfStream bool) Action
	OnRequestBody(size int, endOfStream bool) Action
	// Observing reports whether the response callbacks are wanted: when
	// false, the shell does not read the response headers.
	Observing() bool
	OnResponseHeaders(headers [][2]string, endOfStream bool) Action
	OnResponseBody(size int, endOfStream bool) Action
	// OnCallResponse answers a Host.Call: ok false when the call failed
	// (no headers came back).
	OnCallResponse(headers [][2]string, body []byte, ok bool)
	// OnDone ends the request: it may come twice (proxy_on_log and
	// proxy_on_done), and must be idempotent.
	OnDone()
}

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

// MetricKind is the proxy-wasm metric type.
type MetricKind uint32

const (
	Counter   MetricKind = 0
	Gauge     MetricKind = 1
	Histogram MetricKind = 2
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
// the plugin can act on them.
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
	// ContinueResponse resumes a response paused in a callback.
	ContinueResponse()
	// SetProperty publishes a value for access logs (Envoy filter state
	// wasm.<name>, APISIX nginx variable <name>). The host copies value:
	// it may be reused once the call returns.
	SetProperty(name, value string)
	// ClientAddress is the client's (downstream peer's) address,
	// "ip:port" with an IPv6 ip in brackets, or "" when the host does not
	// say: Envoy's attribute source.address, APISIX's nginx variables
	// $remote_addr and $remote_port. One or two host calls that return
	// data: read it only when it is needed.
	ClientAddress() string

	// DefineMetric returns the id of the metric called name; the same
	// name gives the same id.
	DefineMetric(kind MetricKind, name string) (id uint32, ok bool)
	// RecordMetric adds value to a counter or records it in a histogram.
	RecordMetric(kind MetricKind, id uint32, value int64)

	// Activate makes this stream the target of the host calls that follow,
	// when the plugin acts on it from a root callback (a tick or a callout
	// answer).
	Activate()

	Log(level Level, msg string)
	// NowNanos is the wall clock.
	NowNanos() int64
}

// RootHost is the proxy as a plugin (root context) sees it.
type RootHost interface {
	// SharedData is the key-value store shared by every VM (worker) of the
	// plugin; where the host has none (Caps.SharedData false: APISIX), a
	// store of this root alone, in the VM's memory.
	SharedData() Store
	// SetTickPeriod starts (ms > 0) or stops (0) Root.OnTick calls.
	SetTickPeriod(ms uint32)
	NowNanos() int64
	// Call dispatches an HTTP callout owned by the root, not by a stream:
	// from a tick, for instance (proxy-wasm lets any context call out, and
	// Envoy's root context has its own dispatcher). The answer comes to
	// Root.OnCallResponse with the id returned here. Not on APISIX, which
	// has no ticks and whose wasm-nginx-module needs a request to call out
	// from (https://github.com/api7/wasm-nginx-module).
	Call(cluster string, headers [][2]string, body []byte, timeoutMS uint32) (id uint32, ok bool)
	// Log logs as the root context.
	Log(level Level, msg string)
	// DefineMetric is Host.DefineMetric from the root context.
	DefineMetric(kind MetricKind, name string) (id uint32, ok bool)
	// SetGauge sets a gauge to value (proxy_record_metric): workers that
	// share a metric and agree on its value set the same value.
	SetGauge(id uint32, value int64)
}
