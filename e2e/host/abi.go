package host

// proxy_status_t (docs/proxy-wasm-abi.md#enums).
const (
	stOK                   = 0
	stNotFound             = 1
	stBadArgument          = 2
	stSerializationFailure = 3
	stParseFailure         = 4
	stInvalidMemoryAccess  = 6
	stEmpty                = 7
	stCASMismatch          = 8
	stInternalFailure      = 10
	stBrokenConnection     = 11
	stUnimplemented        = 12
)

// proxy_map_type_t.
const (
	mapRequestHeaders      = 0
	mapRequestTrailers     = 1
	mapResponseHeaders     = 2
	mapResponseTrailers    = 3
	mapCallResponseHeaders = 6
	mapCallResponseTrailer = 7
	mapMax                 = 7
)

// proxy_buffer_type_t.
const (
	bufRequestBody      = 0
	bufResponseBody     = 1
	bufCallResponseBody = 4
	bufVMConfiguration  = 6
	bufPluginConfig     = 7
	bufMax              = 8
)

// proxy_metric_type_t.
const (
	metricCounter   = 0
	metricGauge     = 1
	metricHistogram = 2
)

// wasi errno values used by the hand-written Envoy WASI.
const (
	errnoSuccess = 0
	errnoBadf    = 8
	errnoFault   = 21
	errnoInval   = 28
	errnoNoent   = 44
	errnoNosys   = 52
	errnoNotsup  = 58
)

// Actions returned by proxy_on_*_headers / body as Envoy maps them
// (docs/proxy-wasm-abi.md#actions: CPPSDK FilterHeadersStatus / FilterDataStatus).
const (
	hdrContinue                = 0
	hdrStopIteration           = 1
	hdrContinueAndEndStream    = 2
	hdrStopAllIterationBuffer  = 3
	dataContinue               = 0
	dataStopIterationAndBuffer = 1
	dataStopIterationWatermark = 2
	dataStopIterationNoBuffer  = 3
)

// ABI version markers (docs/proxy-wasm-abi.md#lifecycle).
const (
	abiNone = iota
	abi010
	abi020
	abi021
)
