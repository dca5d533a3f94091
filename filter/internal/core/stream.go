package core

import (
	"strconv"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
)

// mode is how a request reaches the provider.
type mode uint8

const (
	// modeInline: headers are rewritten in the headers callback and the
	// body afterwards; the host forwards the request (Envoy).
	modeInline mode = iota
	// modeHold: headers are held until the body is complete because they
	// depend on it (signature, model in the path); needs Envoy's
	// allow_on_headers_stop_iteration.
	modeHold
	// modeCallout: the filter sends the request itself with an HTTP callout
	// and answers with a local response. Buffered, no incremental streaming.
	// Used where the host cannot rewrite bodies (APISIX) or cannot hold
	// headers while reading the body.
	modeCallout
)

// Stream is the state of one request. Its methods are the proxy-wasm stream
// callbacks, minus the ABI.
type Stream struct {
	p    *Plugin
	b    *Backend // the upstream instance this request goes to
	inst int      // its index among the plugin's instances
	h    Host

	mode     mode
	client   convert.Protocol
	t        *target
	tr       convert.Translator
	old      convert.Translator // left by Reuse for Build to recycle
	surePath bool               // the path named the client protocol

	obj      jsonbytes.Object // the request body's top level, indexed once
	headers  [][2]string      // the client's request headers
	method   string
	path     string // the client's :path
	stream   bool   // client asked for a stream
	reqModel string // model the client asked for
	model    string // model sent upstream

	status     int
	respStream bool
	translate  bool // response bytes are rewritten
	respBuf    []byte
	wrapError  bool // a non-JSON error body becomes an error JSON
	held       bool // response headers wait for the converted body
	respBytes  int64
	aborted    bool

	start, firstToken int64
	local             bool // the answer is our own local response

	ai       bool // the body was an AI request (else: traditional_http)
	read     bool // a read (model listing) passed to the provider as is
	finished bool
	// clientClosed: the request ended before its response did, the way a
	// client that disconnects ends it (see OnDone).
	clientClosed bool

	retry  *retries    // ai-proxy-multi's fallback state (fallback.go)
	gcp    tokenWait   // a GCP access token and the wait for it (gcp.go)
	idle   idleState   // the idle watchdog's state (idle.go)
	budget budgetState // ai-rate-limiting's view of the request (budget.go)

	addr     string // the client's address, once read (see clientAddress)
	addrRead bool
}

// fail answers the client with an error in its protocol.
func (s *Stream) fail(status int, msg string) Action { return s.failCode(status, "", msg) }

// failCode is fail with OpenAI's machine-readable error code, such as
// model_not_found.
func (s *Stream) failCode(status int, code, msg string) Action {
	s.status = status
	s.local = true
	s.h.Log(LevelWarn, "ai-proxy: "+strconv.Itoa(status)+": "+msg)
	s.sendLocal(status, s.quotaHeaders([][2]string{{"content-type", "application/json"}}), convert.ErrorBodyCode(s.client, status, code, msg))
	return Pause
}
