package core

// The request side of a Stream: reading the client's request and sending
// what Backend.Build makes of it, inline, held or as a callout.

import (
	"strconv"
	"strings"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
)

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
	// The shell keeps request headers valid until the request is done.
	s.method, s.path, s.headers = method, path, headers
	s.client, s.surePath = convert.ProtocolFromPath(path)
	p := s.p
	s.beginBudget()
	// With models declared, the instance depends on the body's model and
	// is picked in buildRequest; s.b stays nil until then.
	if p.bal != nil && p.models == nil && !s.pickInstance() {
		return Pause
	}
	switch allow := allowedMethod(path); {
	case method != allow:
		return s.refuseMethod(allow)
	case allow == "GET" && p.models != nil:
		return s.readModels()
	case allow == "GET":
		return s.passthrough()
	}
	if s.b != nil && !s.checkBudget() { // else once the body picks the instance
		return Pause
	}
	s.stream = convert.PathStreams(path)
	if eos && !s.p.caps.ExplicitBody {
		return s.fail(400, "request body is empty; send a JSON "+s.client.String()+" request")
	}
	if ctype != "" && !strings.Contains(strings.ToLower(ctype), "json") {
		return s.fail(400, "Content-Type must be application/json, got "+strconv.Quote(ctype))
	}
	picked := s.b != nil
	if picked && !s.selectTarget() {
		return Pause
	}
	switch {
	case !p.caps.BodyRewrite:
		s.mode = modeCallout
	case !picked || s.t.path == "" || s.b.signer != nil:
		// The headers depend on the body: its model picks the instance,
		// names the path or is signed with it.
		s.mode = modeCallout
		if p.cfg.AllowHeadersHold {
			s.mode = modeHold
		}
	}
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
		return Continue
	}
	if !picked {
		// The router's bodiless request goes to the first instance's
		// host until the callout, to the instance picked, replaces it.
		s.t = p.backends[0].targets.getOrAny(s.client)
	}
	s.disarmHeaders()
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
func (s *Stream) disarmHeaders() { s.retarget(nil) }

// passthrough sends a read (GET /v1/models, say) to the provider with the
// operator's credentials, path unchanged. Where the host sends a continued
// request to the route's own upstream rather than to the rewritten
// authority (APISIX), it goes as a callout.
func (s *Stream) passthrough() Action {
	s.read = true
	t := s.b.targets.getOrAny(convert.OpenAIChat)
	if t == nil {
		return Continue
	}
	s.t = t
	if !s.p.caps.BodyRewrite {
		h := s.upstreamHeaders(s.path, nil)
		if !s.h.Call(t.cluster, h, nil, uint32(s.p.cfg.TimeoutMS)) {
			return s.fail(502, "cannot reach "+t.authority+": the host refused the callout to cluster "+strconv.Quote(t.cluster))
		}
		return Pause
	}
	s.writeHeaders(s.path, nil)
	// Not watched (the response callbacks skip non-AI requests): the
	// router's total timeout bounds a models listing well enough.
	s.h.SetRequestHeader("x-envoy-upstream-rq-timeout-ms", s.p.timeoutHeader)
	return Continue
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
	body := s.startRetries(s.h.RequestBody(size))
	a, ok := s.buildRequest(body)
	if !ok {
		return Pause
	}
	out := a.body
	switch s.mode {
	case modeInline:
		// Headers still held for a token (a host that delivers the body
		// meanwhile): keep the body too; the token's arrival releases both.
		next := Continue
		if s.b.needsToken() && s.gcp.token == "" {
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
	if s.b.needsToken() && s.gcp.token == "" {
		// The body may live in the plugin's scratch buffer: keep a copy.
		pending := a
		pending.body = append([]byte(nil), a.body...)
		s.gcp.pending = &pending
		if !s.tokenReady() {
			return Pause // resumed by the token callout or a tick
		}
		s.gcp.pending = nil
	}
	if s.mode == modeHold {
		return s.releaseHeld(a)
	}
	return s.callout(a)
}

// releaseHeld writes the request line, credentials and body into the
// held request and lets it go.
func (s *Stream) releaseHeld(a Attempt) Action {
	h := append(a.headers, [2]string{"content-type", "application/json"}, [2]string{"content-length", strconv.Itoa(len(a.body))})
	s.writeHeaders(a.path, h)
	s.h.ReplaceRequestBody(a.body)
	s.watch()
	return Continue
}

// buildRequest validates the client body and produces the upstream body and
// path. On failure it has already answered the client.
func (s *Stream) buildRequest(body []byte) (Attempt, bool) {
	if len(body) == 0 {
		s.fail(400, "request body is empty; send a JSON "+s.client.String()+" request")
		return Attempt{}, false
	}
	if err := s.obj.Parse(body); err != nil {
		if err == jsonbytes.ErrNotObject {
			s.fail(400, "request body must be a JSON object")
		} else {
			s.fail(400, "request body is not valid JSON: "+err.Error())
		}
		return Attempt{}, false
	}
	if !s.surePath {
		detected := convert.ProtocolFromBody(&s.obj)
		if detected == convert.Unknown {
			s.fail(400, "request body is not a recognised AI request: expected \"messages\" (chat) or \"input\" (embeddings)")
			return Attempt{}, false
		}
		if detected != s.client {
			if s.mode == modeInline {
				if nt, ok := s.b.targets.get(detected); ok && nt.path != s.t.path {
					s.fail(400, "this route's path does not name the endpoint, and "+detected.String()+" requests need another upstream path; use a route path ending in /embeddings or /chat/completions")
					return Attempt{}, false
				}
			}
			s.client = detected
			if s.b != nil && !s.selectTarget() {
				return Attempt{}, false
			}
		}
	}
	if m, ok := s.obj.String("model"); ok {
		s.reqModel = m
	} else if raw, ok := s.obj.Get("model"); ok {
		s.reqModel = strings.Clone(jsonbytes.Parse(raw).String())
	}
	if s.b == nil && !(s.pickInstance() && s.checkBudget() && s.selectTarget()) {
		return Attempt{}, false
	}
	if !s.recognised() {
		return Attempt{}, false
	}
	if v, _ := s.obj.Get("stream"); string(v) == "true" {
		s.stream = true
	}
	return s.build(body)
}

// build makes the attempt for the stream's backend from the client's
// validated body. On failure it has already answered the client.
func (s *Stream) build(body []byte) (Attempt, bool) {
	// s.old: the translator of the stream's previous request, if any.
	a, berr := s.b.Build(&s.p.buf, &clientRequest{protocol: s.client, body: body, obj: &s.obj, stream: s.stream, model: s.reqModel}, s.old, s.h)
	if a.tr != nil {
		s.tr, s.old = a.tr, nil // kept for the response, or recycled by the next request
	}
	s.model = a.model
	if berr != nil {
		s.ai = berr.ai
		s.fail(berr.status, berr.msg)
		return Attempt{}, false
	}
	s.t, s.ai = a.target, true
	if s.p.cfg.LogPayloads {
		s.h.Log(LevelInfo, "ai-proxy request payload: "+string(a.body))
	}
	return a, true
}
