package core

import (
	"errors"
	"strconv"
	"strings"
	"unsafe"

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
	p *Plugin
	b *Backend // the upstream instance this request goes to
	h Host

	mode     mode
	client   convert.Protocol
	t        *target
	tr       convert.Translator
	old      convert.Translator // left by Reuse for selectTarget to recycle
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

	token       string // GCP access token
	tokenCall   bool   // the callout in flight is a token exchange
	leased      bool   // this stream holds the token-fetch lease
	waitSince   int64
	pending     []byte // upstream body waiting for the token (hold, callout)
	pendingPath string
	ai          bool // the body was an AI request (else: traditional_http)
	read        bool // a read (model listing) passed to the provider as is
	finished    bool
	// clientClosed: the request ended before its response did, the way a
	// client that disconnects ends it (see OnDone).
	clientClosed bool

	// The idle watchdog's state (idle.go).
	activity  uint32 // response callbacks seen
	seen      uint32 // activity at the last tick that saw it move
	seenAt    int64  // that tick's time
	watchPos  int    // 1 + index in Plugin.watched; 0: not watched
	calloutAt int64  // when the callout was sent
}

// OnRequestHeaders sees the client's headers; eos means no body follows
// (APISIX always says so: the core ignores it there). Header changes must
// happen here: Envoy makes request headers read-only once this returns
// Continue.
func (s *Stream) OnRequestHeaders(headers [][2]string, eos bool) Action {
	s.start = s.h.NowNanos()
	var path, ctype, method string
	for _, kv := range headers {
		switch kv[0] {
		case ":path":
			path = kv[1]
		case ":method":
			method = kv[1]
		case "content-type":
			ctype = kv[1]
		}
	}
	s.method, s.path = method, path
	s.client, s.surePath = convert.ProtocolFromPath(path)
	switch allow := allowedMethod(path); {
	case method != allow:
		return s.refuseMethod(allow)
	case allow == "GET":
		return s.passthrough(headers)
	}
	s.stream = convert.PathStreams(path)
	if eos && !s.p.caps.ExplicitBody {
		return s.fail(400, "request body is empty; send a JSON "+s.client.String()+" request")
	}
	if ctype != "" && !strings.Contains(strings.ToLower(ctype), "json") {
		return s.fail(400, "Content-Type must be application/json, got "+strconv.Quote(ctype))
	}
	if !s.selectTarget() {
		return Pause
	}
	p := s.p
	switch {
	case !p.caps.BodyRewrite:
		s.mode = modeCallout
	case s.t.path == "" || s.b.signer != nil:
		s.mode = modeCallout
		if p.cfg.AllowHeadersHold {
			s.mode = modeHold
		}
	}
	s.headers = headers // the strings live in a Go buffer the stream now owns
	switch s.mode {
	case modeInline:
		if s.b.needsToken() && !s.tokenReady() {
			return Pause // resumed by the token callout or a tick
		}
		s.writeHeaders(s.t.path, nil)
		return Continue
	case modeHold:
		return Pause
	}
	if p.caps.ExplicitBody {
		s.h.SetProperty("wasm_process_req_body", "1")
	} else {
		s.disarmHeaders()
	}
	return Continue
}

// disarmHeaders prepares the headers of a callout-mode request for the
// router, which sees them as soon as this callback returns Continue. Envoy
// cannot hold them while the filter reads the body (without
// allow_on_headers_stop_iteration a StopIteration here stops the body
// too), so its router opens an upstream request at once, racing the
// callout, unless a filter after this one holds them (the buffer filter,
// README "How a request reaches the provider"). Whatever that request
// carries must be harmless:
//   - the client's credentials and hop-by-hop headers go, exactly as for
//     an upstream request (keepHeader), so no secret of the client's
//     leaves, wherever it goes;
//   - :authority and :scheme name the provider, the host the callout goes
//     to, so the router contacts no host the client picked (the client's
//     Host would otherwise be dialled by the dynamic forward proxy);
//     :path stays, as it does not choose the host.
//
// The request never gets a body (the filter answers with a local reply,
// which resets it), so the provider sees a bodiless request without
// credentials.
func (s *Stream) disarmHeaders() {
	for _, kv := range s.headers {
		if kv[0] != "" && kv[0][0] != ':' && !keepHeader(kv[0], s.client, s.t.upstream) {
			s.h.RemoveRequestHeader(kv[0])
		}
	}
	s.h.SetRequestHeader(":scheme", s.t.scheme)
	s.h.SetRequestHeader(":authority", s.t.authority)
}

// allowedMethod is the one method a path takes. A model listing
// (…/models, …/models/{id}) is a read: GET. Everything else is an AI
// request (chat, messages, embeddings, responses, converse, or a path the
// body names): POST. A read goes to the provider with the operator's
// credentials, so no other read is let through: GET /v1/files or
// /v1/responses/{id} would show the operator's data to any client. HEAD
// and OPTIONS are refused too: CORS preflights belong to the host's CORS
// filter, which answers them before this filter runs (Envoy:
// https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/cors_filter;
// APISIX's cors plugin answers OPTIONS in its rewrite phase, before the
// access phase of wasm plugins:
// https://github.com/apache/apisix/blob/master/apisix/plugins/cors.lua).
func allowedMethod(path string) string {
	if convert.IsModelListing(path) {
		return "GET"
	}
	return "POST"
}

// refuseMethod answers 405 with the method the path takes; nothing goes
// upstream.
func (s *Stream) refuseMethod(allow string) Action {
	msg := "method " + strconv.Quote(s.method) + " is not allowed here: AI requests are sent with POST"
	if allow == "GET" {
		msg = "method " + strconv.Quote(s.method) + " is not allowed here: model listings are read with GET"
	}
	s.status, s.local = 405, true
	s.h.Log(LevelWarn, "ai-proxy: 405: "+msg)
	s.h.SendLocal(405, [][2]string{{"content-type", "application/json"}, {"allow", allow}}, convert.ErrorBody(s.client, 405, msg))
	return Pause
}

// passthrough sends a read (GET /v1/models, say) to the provider with the
// operator's credentials, path unchanged. Where the host sends a continued
// request to the route's own upstream rather than to the rewritten
// authority (APISIX), it goes as a callout.
func (s *Stream) passthrough(headers [][2]string) Action {
	s.read = true
	t, ok := s.b.targets.get(convert.OpenAIChat)
	for _, other := range s.b.targets {
		if ok {
			break
		}
		t, ok = other, other != nil
	}
	if t == nil {
		return Continue
	}
	s.t = t
	s.headers = headers
	if !s.p.caps.BodyRewrite {
		h := s.upstreamHeaders(s.path, nil)
		if !s.h.Call(s.b.cluster(t), h, nil, uint32(s.p.cfg.TimeoutMS)) {
			return s.fail(502, "cannot reach "+t.authority+": the host refused the callout to cluster "+strconv.Quote(s.b.cluster(t)))
		}
		return Pause
	}
	s.writeHeaders(s.path, nil)
	// Not watched (the response callbacks skip non-AI requests): the
	// router's total timeout bounds a models listing well enough.
	s.h.SetRequestHeader("x-envoy-upstream-rq-timeout-ms", s.p.timeoutHeader)
	return Continue
}

// relayRead answers a read sent as a callout with the provider's answer,
// untouched.
func (s *Stream) relayRead(headers [][2]string, body []byte, ok bool) {
	if !ok {
		s.fail(502, "upstream "+s.t.authority+" failed before answering (connection reset or response too large)")
		s.finish()
		return
	}
	s.status = 200
	out := make([][2]string, 0, 1)
	for _, kv := range headers {
		switch kv[0] {
		case ":status":
			s.status, _ = strconv.Atoi(kv[1])
		case "content-type":
			out = append(out, kv)
		}
	}
	s.local = true
	s.h.SendLocal(s.status, out, body)
	s.finish()
}

// selectTarget resolves where the client's protocol goes, answering 400
// when the provider cannot serve it. The translator is made with the
// body, by Backend.Build.
func (s *Stream) selectTarget() bool {
	t, ok := s.b.targets.get(s.client)
	if !ok {
		s.fail(400, s.b.unserved(s.client).msg)
		return false
	}
	if !convert.CanTranslate(s.client, t.upstream) {
		s.fail(400, unconvertible(s.client, t.upstream).msg)
		return false
	}
	s.t = t
	return true
}

// upstreamHeaders builds the provider's request headers: the request line,
// the client headers that may go on, then the operator's credentials and
// the gateway's own headers, each replacing a client header of that name.
func (s *Stream) upstreamHeaders(path string, extra [][2]string) [][2]string {
	t := s.t
	h := make([][2]string, 0, len(s.headers)+8)
	h = append(h, [2]string{":method", s.method}, [2]string{":scheme", t.scheme},
		[2]string{":authority", t.authority}, [2]string{":path", path})
	for _, kv := range s.headers {
		if keepHeader(kv[0], s.client, t.upstream) {
			h = append(h, kv)
		}
	}
	for _, set := range [...][][2]string{s.b.cfg.AuthHeaders, s.b.provider.ExtraHeaders, extra} {
		for _, kv := range set {
			h = setPair(h, kv[0], kv[1])
		}
	}
	if s.token != "" {
		h = setPair(h, "authorization", "Bearer "+s.token)
	}
	return h
}

// writeHeaders turns the held client request into the provider's with
// the same result as upstreamHeaders, but edits the host's map in place:
// a few host calls that return nothing cost less than rebuilding and
// re-encoding the whole map.
func (s *Stream) writeHeaders(path string, extra [][2]string) {
	t, h := s.t, s.h
	for _, kv := range s.headers {
		// A header the operator's auth sets is replaced below anyway.
		if kv[0] != "" && kv[0][0] != ':' && !keepHeader(kv[0], s.client, t.upstream) && !s.b.authNames[kv[0]] {
			h.RemoveRequestHeader(kv[0])
		}
	}
	h.SetRequestHeader(":scheme", t.scheme)
	h.SetRequestHeader(":authority", t.authority)
	if path != s.path {
		h.SetRequestHeader(":path", path)
	}
	for _, set := range [...][][2]string{s.b.cfg.AuthHeaders, s.b.provider.ExtraHeaders, extra} {
		for _, kv := range set {
			h.SetRequestHeader(kv[0], kv[1])
		}
	}
	if s.token != "" {
		h.SetRequestHeader("authorization", "Bearer "+s.token)
	}
	h.SetRequestHeader("x-envoy-upstream-rq-timeout-ms", s.p.routerTimeout)
}

// OnRequestBody sees the buffered request body; size is the total so far.
func (s *Stream) OnRequestBody(size int, eos bool) Action {
	if s.local || s.read {
		return Continue
	}
	if max := s.p.cfg.MaxReqBodySize; max > 0 && int64(size) > max {
		return s.fail(413, "request body of "+strconv.Itoa(size)+" bytes exceeds max_req_body_size "+strconv.FormatInt(max, 10))
	}
	if !eos {
		return Pause
	}
	body := s.h.RequestBody(size)
	out, path, ok := s.buildRequest(body)
	if !ok {
		return Pause
	}
	switch s.mode {
	case modeInline:
		// Headers still held for a token (a host that delivers the body
		// meanwhile): keep the body too; the token's arrival releases both.
		next := Continue
		if s.b.needsToken() && s.token == "" {
			next = Pause
		}
		if next == Continue {
			s.watch()
		}
		if len(out) == len(body) && &out[0] == &body[0] {
			return next // nothing to change: the body passes untouched
		}
		if !s.h.ReplaceRequestBody(out) {
			return s.fail(500, "the host refused the rewritten request body")
		}
		return next
	}
	if s.b.needsToken() && s.token == "" {
		// out may live in the plugin's scratch buffer: keep a copy.
		s.pending, s.pendingPath = append([]byte(nil), out...), path
		if !s.tokenReady() {
			return Pause // resumed by the token callout or a tick
		}
		s.pending = nil
	}
	if s.mode == modeHold {
		return s.releaseHeld(path, out)
	}
	return s.callout(path, out)
}

// releaseHeld writes the request line, credentials and body into the
// held request and lets it go.
func (s *Stream) releaseHeld(path string, body []byte) Action {
	sig, err := s.sign(path, body)
	if err != nil {
		return s.fail(500, err.Error())
	}
	sig = append(sig, [2]string{"content-type", "application/json"}, [2]string{"content-length", strconv.Itoa(len(body))})
	s.writeHeaders(path, sig)
	s.h.ReplaceRequestBody(body)
	s.watch()
	return Continue
}

// buildRequest validates the client body and produces the upstream body and
// path. On failure it has already answered the client.
func (s *Stream) buildRequest(body []byte) ([]byte, string, bool) {
	if len(body) == 0 {
		s.fail(400, "request body is empty; send a JSON "+s.client.String()+" request")
		return nil, "", false
	}
	if err := s.obj.Parse(body); err != nil {
		if err == jsonbytes.ErrNotObject {
			s.fail(400, "request body must be a JSON object")
		} else {
			s.fail(400, "request body is not valid JSON: "+err.Error())
		}
		return nil, "", false
	}
	if !s.surePath {
		detected := convert.Unknown
		switch {
		case s.obj.Has("messages"):
			detected = convert.OpenAIChat
		case s.obj.Has("input"):
			detected = convert.OpenAIEmbeddings
		}
		if detected == convert.Unknown {
			s.fail(400, "request body is not a recognised AI request: expected \"messages\" (chat) or \"input\" (embeddings)")
			return nil, "", false
		}
		if detected != s.client {
			if nt, ok := s.b.targets.get(detected); ok && s.mode == modeInline && nt.path != s.t.path {
				s.fail(400, "this route's path does not name the endpoint, and "+detected.String()+" requests need another upstream path; use a route path ending in /embeddings or /chat/completions")
				return nil, "", false
			}
			s.client = detected
			if !s.selectTarget() {
				return nil, "", false
			}
		}
	}
	if !s.recognised() {
		return nil, "", false
	}
	if v, _ := s.obj.Get("stream"); string(v) == "true" {
		s.stream = true
	}
	if s.client == convert.BedrockConverse && !s.converseBody() {
		return nil, "", false
	}
	if m, ok := s.obj.String("model"); ok {
		s.reqModel = m
	} else if raw, ok := s.obj.Get("model"); ok {
		s.reqModel = strings.Clone(jsonbytes.Parse(raw).String())
	}
	// s.old: the translator of the stream's previous request, if any.
	a, berr := s.b.Build(&s.p.buf, &clientRequest{protocol: s.client, body: body, obj: &s.obj, stream: s.stream, model: s.reqModel}, s.old)
	if a.tr != nil {
		s.tr, s.old = a.tr, nil // kept for the response, or recycled by the next request
	}
	s.model = a.model
	if berr != nil {
		s.ai = berr.pathOnly
		s.fail(berr.status, berr.msg)
		return nil, "", false
	}
	s.t, s.ai = a.target, true
	out, path := a.body, a.path
	if s.p.cfg.LogPayloads {
		s.h.Log(LevelInfo, "ai-proxy request payload: "+string(out))
	}
	return out, path, true
}

// recognised checks the members the client protocol requires, the way
// its API does, so that a request the provider would refuse is refused
// here, before anything is sent:
//   - chat and messages need a non-empty "messages" array (OpenAI answers
//     400 "[] is too short", Anthropic "at least one message is required");
//     Converse only an array (Bedrock can fill it from a prompt);
//   - Anthropic Messages needs "max_tokens", a positive integer, unless the
//     operator sets override.llm_options.max_tokens;
//   - embeddings need "input", a non-empty string or array;
//   - responses need "input", a string or an array.
//
// The model is not checked: options.model may supply it.
func (s *Stream) recognised() bool {
	msg := ""
	switch s.client {
	case convert.OpenAIChat, convert.AnthropicMessages, convert.BedrockConverse:
		v, ok := s.obj.Get("messages")
		switch {
		case !ok:
			msg = s.client.String() + ` request needs a "messages" array`
		case v[0] != '[':
			msg = `"messages" must be an array of messages, got ` + convert.TypeOf(v)
		case s.client != convert.BedrockConverse && emptyArray(v):
			msg = `"messages" must not be empty: send at least one message`
		case s.client == convert.AnthropicMessages && s.b.cfg.MaxTokens == 0:
			if v, ok := s.obj.Get("max_tokens"); !ok {
				msg = `"max_tokens" is required: the maximum number of tokens to generate`
			} else if !positiveInt(v) {
				msg = `"max_tokens" must be a positive integer, got ` + convert.TypeOf(v)
			}
		}
	case convert.OpenAIEmbeddings, convert.OpenAIResponses:
		v, ok := s.obj.Get("input")
		switch {
		case !ok:
			msg = s.client.String() + ` request needs an "input"`
		case v[0] != '"' && v[0] != '[':
			msg = `"input" must be a string or an array, got ` + convert.TypeOf(v)
		case s.client == convert.OpenAIEmbeddings && (string(v) == `""` || emptyArray(v)):
			msg = `"input" must not be empty: send the text to embed`
		}
	}
	if msg != "" {
		s.fail(400, msg)
		return false
	}
	return true
}

// emptyArray reports whether raw is the JSON array [].
func emptyArray(raw []byte) bool {
	if len(raw) == 0 || raw[0] != '[' {
		return false
	}
	for _, c := range raw[1:] {
		switch c {
		case ' ', '\t', '\n', '\r':
		default:
			return c == ']'
		}
	}
	return false
}

// positiveInt reports whether raw is a JSON integer of at least 1.
func positiveInt(raw []byte) bool {
	if len(raw) == 0 || raw[0] < '1' || raw[0] > '9' {
		return false
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// callout sends the upstream request from the filter.
func (s *Stream) callout(path string, body []byte) Action {
	t := s.t
	sig, err := s.sign(path, body)
	if err != nil {
		return s.fail(500, err.Error())
	}
	s.method = "POST"
	h := s.upstreamHeaders(path, append(sig, [2]string{"content-type", "application/json"}))
	s.calloutAt = s.h.NowNanos()
	if !s.h.Call(s.b.cluster(t), h, body, s.calloutTimeoutMS()) {
		return s.fail(502, "cannot reach "+t.authority+": the host refused the callout to cluster "+strconv.Quote(s.b.cluster(t)))
	}
	return Pause
}

// setPair sets name in a header list, replacing an earlier value.
func setPair(h [][2]string, name, value string) [][2]string {
	for i := range h {
		if h[i][0] == name {
			h[i][1] = value
			return h
		}
	}
	return append(h, [2]string{name, value})
}

// OnCallResponse receives the callout's answer; ok is false when the
// transport failed.
func (s *Stream) OnCallResponse(headers [][2]string, body []byte, ok bool) {
	if s.tokenCall {
		status := 0
		for _, kv := range headers {
			if kv[0] == ":status" {
				status, _ = strconv.Atoi(kv[1])
			}
		}
		s.onTokenResponse(status, body, ok)
		return
	}
	if s.read {
		s.relayRead(headers, body, ok)
		return
	}
	if !ok {
		if ms := int64(s.calloutTimeoutMS()); (s.h.NowNanos()-s.calloutAt)/1e6 >= ms {
			// APISIX reports a timed-out callout like any failure.
			s.fail(504, "upstream "+s.t.authority+" failed or stayed silent for timeout "+strconv.FormatInt(ms, 10)+" ms")
		} else {
			s.fail(502, "upstream "+s.t.authority+" failed before answering (connection reset or response too large)")
		}
		s.finish()
		return
	}
	s.status = 200
	ctype := ""
	for _, kv := range headers {
		switch kv[0] {
		case ":status":
			s.status, _ = strconv.Atoi(kv[1])
		case "content-type":
			ctype = kv[1]
		}
	}
	if s.status >= 500 && !strings.Contains(ctype, "json") && (s.status == 503 || s.status == 504) {
		msg := "upstream " + s.t.authority + " did not answer within " + strconv.FormatUint(uint64(s.calloutTimeoutMS()), 10) + " ms"
		if s.status == 503 {
			msg = "cannot connect to upstream " + s.t.authority
		}
		s.fail(s.status, msg)
		s.finish()
		return
	}
	s.respStream = isStreamType(ctype)
	s.noteFirstByte()
	if s.translating() {
		ctype = "application/json"
	}
	s.answer(ctype, body)
}

// answer sends the converted (or observed) complete upstream body as the
// filter's own response: the callout's answer, or an upstream response
// that ended with its headers.
func (s *Stream) answer(ctype string, body []byte) {
	out, _ := s.responseBody(body, true)
	if s.respStream && s.status < 400 {
		ctype = s.tr.StreamContentType()
	}
	s.local = true
	s.h.SendLocal(s.status, [][2]string{{"content-type", ctype}}, out)
	s.finish()
}

// translating reports whether response bytes differ between the protocols.
func (s *Stream) translating() bool { return s.client != s.t.upstream }

func isStreamType(ctype string) bool {
	return strings.Contains(ctype, "text/event-stream") || strings.Contains(ctype, "vnd.amazon.eventstream")
}

// Observing reports whether the response concerns the filter: false for
// requests that were not AI requests (no body), whose responses pass
// untouched, so the shell need not even read their headers.
func (s *Stream) Observing() bool { return s.ai && !s.local }

// OnResponseHeaders sees the upstream's response headers; eos means no
// body follows.
func (s *Stream) OnResponseHeaders(headers [][2]string, eos bool) Action {
	if s.local || s.tr == nil { // not built: nothing to observe
		return Continue
	}
	ctype := ""
	for _, kv := range headers {
		switch kv[0] {
		case ":status":
			s.status, _ = strconv.Atoi(kv[1])
		case "content-type":
			ctype = kv[1]
		}
	}
	s.activity++
	s.respStream = isStreamType(ctype)
	s.translate = s.translating()
	// An error the proxy made itself (Envoy's "upstream connect error",
	// "upstream request timeout") or a provider's HTML error page is not
	// what an SDK can read: it becomes an error JSON in the client's protocol.
	s.wrapError = s.status >= 400 && !strings.Contains(ctype, "json")
	if s.wrapError {
		s.respStream = false
		s.translate = true
	}
	if !s.translate {
		if s.p.caps.ExplicitBody {
			s.h.SetProperty("wasm_process_resp_body", "1")
		}
		return Continue
	}
	if eos {
		// No body callback follows (an empty 200, a bodiless error): the
		// converted answer, an error for an empty success, goes out as a
		// local reply, which replaces headers that have not left yet.
		s.answer("application/json", nil)
		return Pause
	}
	s.h.RemoveResponseHeader("content-length")
	if s.streaming() {
		s.h.SetResponseHeader("content-type", s.tr.StreamContentType())
	} else {
		s.h.SetResponseHeader("content-type", "application/json")
	}
	if s.p.caps.ExplicitBody {
		s.h.SetProperty("wasm_process_resp_body", "1")
	}
	if !s.streaming() && s.p.cfg.AllowHeadersHold {
		// Whether the answer is a success or a 502 is known only at its
		// end: the headers wait for it (StopIteration, as Envoy treats a
		// Pause with allow_on_headers_stop_iteration; the body keeps
		// coming).
		s.held = true
		return Pause
	}
	return Continue
}

// streaming reports whether the response is converted event by event.
func (s *Stream) streaming() bool { return s.respStream && s.status < 400 }

// OnResponseBody sees upstream body bytes: the current chunk when earlier
// calls returned Continue or Consume.
func (s *Stream) OnResponseBody(size int, eos bool) Action {
	if s.local || s.tr == nil { // not built: nothing to observe
		return Continue
	}
	if s.aborted {
		s.h.ReplaceResponseBody(nil)
		return Continue
	}
	s.activity++
	s.respBytes += int64(size)
	if s.streaming() {
		chunk := s.h.ResponseBody(size)
		s.noteFirstByte()
		out, err := s.tr.Stream(chunk, eos)
		if err != nil {
			s.h.Log(LevelWarn, "ai-proxy: upstream stream from "+s.t.authority+": "+err.Error())
		}
		if s.overLimit() {
			// The chunk that crosses the limit is not forwarded: the client
			// gets at most max_response_bytes of upstream bytes, then the
			// terminal error event.
			out = convert.StreamErrorEvent(s.client, s.limitMessage())
			s.aborted = true
		}
		if s.translate || s.aborted {
			s.h.ReplaceResponseBody(out)
		}
		if eos || s.aborted {
			s.finish()
		}
		return Continue
	}
	if !s.translate {
		// Observe the bytes for usage; they pass untouched. A body that
		// comes in one piece is read in place, a longer one is copied.
		var chunk []byte
		if size > 0 {
			chunk = s.h.ResponseBody(size)
		}
		if eos && len(s.respBuf) == 0 {
			s.responseBody(chunk, false)
			s.finish()
			return Continue
		}
		if len(s.respBuf) < maxObserved {
			s.respBuf = append(s.respBuf, chunk...)
		}
		if eos {
			s.responseBody(s.respBuf, false)
			s.finish()
		}
		return Continue
	}
	// A converted answer is kept here, not in the host's buffer: Envoy's
	// per_connection_buffer_limit_bytes (1 MiB by default) would cut it.
	body := s.respBuf
	if size > 0 {
		chunk := s.h.ResponseBody(size)
		if s.wrapError {
			chunk = chunk[:min(len(chunk), max(maxErrorText-len(s.respBuf), 0))]
		}
		if eos && len(s.respBuf) == 0 {
			body = chunk // in one piece: converted where it lies
		} else {
			s.respBuf = append(s.respBuf, chunk...)
			body = s.respBuf
		}
	}
	if limit := s.convertLimit(); s.respBytes > limit && !s.wrapError {
		s.respBuf = s.respBuf[:0]
		return s.fail(502, "upstream "+s.t.authority+" answered more than "+strconv.FormatInt(limit, 10)+
			" bytes, the most the gateway converts (max_response_bytes)")
	}
	if !eos {
		return Consume
	}
	out, ok := s.responseBody(body, true)
	s.respBuf = s.respBuf[:0]
	if !ok {
		// Held headers give way to a 502 with the error; headers that went
		// out already make Envoy reset the stream instead, which a client
		// tells from a complete answer (FilterManager::sendLocalReply,
		// https://github.com/envoyproxy/envoy/blob/main/source/common/http/filter_manager.cc).
		s.status = 502
		s.local = true
		s.h.SendLocal(502, [][2]string{{"content-type", "application/json"}}, out)
		s.finish()
		return Pause
	}
	if s.held {
		s.h.SetResponseHeader("content-length", strconv.Itoa(len(out)))
	}
	s.h.ReplaceResponseBody(out)
	s.finish()
	return Continue
}

// maxObserved caps the copy of an untranslated response kept for usage.
const maxObserved = 8 << 20

// maxConverted is the most of a non-streaming answer the filter buffers to
// convert it, unless max_response_bytes says otherwise.
const maxConverted = 8 << 20

// maxErrorText is the most of a non-JSON error body that is kept for the
// error message.
const maxErrorText = 512

func (s *Stream) convertLimit() int64 {
	if n := s.p.cfg.MaxResponseBytes; n > 0 {
		return n
	}
	return maxConverted
}

// responseBody converts (or observes) a complete response body. With
// replace, an answer that cannot be converted gives ok false, the client's
// error body and status 502.
func (s *Stream) responseBody(body []byte, replace bool) (out []byte, ok bool) {
	if s.wrapError {
		msg := strings.TrimSpace(string(body[:min(len(body), maxErrorText)]))
		if msg == "" {
			msg = "upstream answered " + strconv.Itoa(s.status) + " without a body"
		}
		return convert.ErrorBody(s.client, s.status, "upstream "+s.t.authority+": "+msg), true
	}
	if s.status >= 400 {
		return s.tr.Error(s.status, body), true
	}
	if s.respStream {
		out, err := s.tr.Stream(body, true)
		if err != nil {
			s.h.Log(LevelWarn, "ai-proxy: upstream stream from "+s.t.authority+": "+err.Error())
			if replace && errors.Is(err, convert.ErrEmptyStream) {
				// Buffered (callout) answers can still say so with a status.
				s.status = 502
				s.respStream = false
				return convert.ErrorBody(s.client, 502, "upstream "+s.t.authority+" streamed no message"), false
			}
		}
		return out, true
	}
	out, err := s.tr.Response(body)
	if err != nil {
		s.h.Log(LevelWarn, "ai-proxy: upstream response from "+s.t.authority+": "+err.Error())
		if replace {
			s.status = 502
			return convert.ErrorBody(s.client, 502, "upstream response could not be read: "+err.Error()), false
		}
		return body, true
	}
	if s.p.cfg.LogPayloads {
		s.h.Log(LevelInfo, "ai-proxy response payload: "+string(out))
	}
	return out, true
}

func (s *Stream) noteFirstByte() {
	if s.firstToken == 0 && (s.tr.FirstToken() || !s.respStream) {
		s.firstToken = s.h.NowNanos()
	}
}

func (s *Stream) overLimit() bool {
	c := s.p.cfg
	if c.MaxResponseBytes > 0 && s.respBytes > c.MaxResponseBytes {
		return true
	}
	return c.MaxStreamDurationMS > 0 && (s.h.NowNanos()-s.start)/1e6 > c.MaxStreamDurationMS
}

func (s *Stream) limitMessage() string {
	c := s.p.cfg
	if c.MaxResponseBytes > 0 && s.respBytes > c.MaxResponseBytes {
		return "stream aborted: response exceeded max_response_bytes " + strconv.FormatInt(c.MaxResponseBytes, 10)
	}
	return "stream aborted: stream exceeded max_stream_duration_ms " + strconv.FormatInt(c.MaxStreamDurationMS, 10)
}

// fail answers the client with an error in its protocol.
func (s *Stream) fail(status int, msg string) Action {
	s.status = status
	s.local = true
	s.h.Log(LevelWarn, "ai-proxy: "+strconv.Itoa(status)+": "+msg)
	s.h.SendLocal(status, [][2]string{{"content-type", "application/json"}}, convert.ErrorBody(s.client, status, msg))
	return Pause
}

// OnDone ends the request (access-log phase or stream destruction).
//
// A request that is not finished by then was cut short: the host ends a
// stream early when the client disconnects (Envoy destroys the filter
// chain, nginx finalizes the request), with no further callback. The
// filter cannot see why, so it reports the common cause, as client_closed:
// before any response status (waiting for the upstream, a callout or a
// token) or once the response body had begun. A response that ended in
// its headers (no body) is not counted; an upstream reset in the middle
// of a body is, since the filter sees it the same way.
func (s *Stream) OnDone() {
	if len(s.p.waiting) > 0 {
		s.p.unwait(s)
	}
	if !s.finished && !s.local {
		s.clientClosed = s.status == 0 || s.respStream || s.respBytes > 0
	}
	s.unwatch()
	s.finish()
}

// statusClientClosed is nginx's 499 "client closed request": the status
// logged for a request whose client left before any response status.
const statusClientClosed = 499

// finish publishes what the request did, once.
func (s *Stream) finish() {
	if s.finished {
		return
	}
	s.finished = true
	if !s.ai || s.tr == nil {
		s.h.SetProperty("request_type", "traditional_http")
		return
	}
	u := s.tr.Usage()
	reqType := "ai_chat"
	if s.stream {
		reqType = "ai_stream"
	}
	ttft := int64(0)
	if s.firstToken > 0 {
		ttft = (s.firstToken - s.start) / 1e6
	}
	set := s.h.SetProperty
	set("request_type", reqType)
	set("llm_model", s.model)
	set("request_llm_model", s.reqModel)
	s.setInt("llm_time_to_first_token", ttft)
	s.setInt("llm_prompt_tokens", u.PromptTokens)
	s.setInt("llm_completion_tokens", u.CompletionTokens)
	s.setInt("llm_total_tokens", u.TotalTokens)
	s.setInt("llm_cache_read_input_tokens", u.CacheReadTokens)
	s.setInt("llm_cache_creation_input_tokens", u.CacheCreationTokens)
	s.setInt("llm_reasoning_tokens", u.ReasoningTokens)
	status := s.status
	switch {
	case status == 0 && s.clientClosed:
		status = statusClientClosed
	case status == 0:
		status = 200
	}
	durationMS := (s.h.NowNanos() - s.start) / 1e6
	s.recordMetrics(status, durationMS, ttft, [4]int64{u.PromptTokens, u.CompletionTokens, u.CacheReadTokens, u.ReasoningTokens})
	if s.p.cfg.LogSummaries {
		b := make([]byte, 0, 256)
		b = append(b, `ai-proxy summary: {"provider":`...)
		b = appendJSONString(b, s.b.provider.Name)
		b = append(b, `,"model":`...)
		b = appendJSONString(b, s.model)
		b = append(b, `,"request_model":`...)
		b = appendJSONString(b, s.reqModel)
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(status), 10)
		b = append(b, `,"client_closed":`...)
		b = strconv.AppendBool(b, s.clientClosed)
		b = append(b, `,"duration_ms":`...)
		b = strconv.AppendInt(b, durationMS, 10)
		b = append(b, `,"ttft_ms":`...)
		b = strconv.AppendInt(b, ttft, 10)
		b = append(b, `,"prompt_tokens":`...)
		b = strconv.AppendInt(b, u.PromptTokens, 10)
		b = append(b, `,"completion_tokens":`...)
		b = strconv.AppendInt(b, u.CompletionTokens, 10)
		b = append(b, `,"total_tokens":`...)
		b = strconv.AppendInt(b, u.TotalTokens, 10)
		b = append(b, '}')
		s.h.Log(LevelInfo, string(b))
	}
}

// setInt publishes a number without allocating: the host copies the
// digits before the plugin's buffer is reused.
func (s *Stream) setInt(name string, v int64) {
	p := s.p
	p.num = strconv.AppendInt(p.num[:0], v, 10)
	s.h.SetProperty(name, unsafe.String(unsafe.SliceData(p.num), len(p.num)))
}
