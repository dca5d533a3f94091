package core

// Fallback (ai-proxy-multi): an attempt that fails before any byte of its
// answer reached the client is retried on the next instance, rebuilt from
// the client's untouched bytes with that instance's own provider, auth,
// options and overrides.
//
// The first attempt goes through the host as any request does (inline or
// held), so a successful stream stays incremental. A retry is an HTTP
// callout whose answer replaces the failed one with a local reply: the
// failed response's headers are held in the filter (StopIteration in the
// response-headers callback), and Envoy sends a local reply whose
// response headers have not left yet straight to the client, bypassing
// the filters (FilterManager::sendLocalReply →  sendDirectLocalReply,
// https://github.com/envoyproxy/envoy/blob/main/source/common/http/filter_manager.cc).
// A callout's answer comes whole, so a stream after a fallback reaches the
// client in one piece (docs/configuration.md, "Fallback").

import (
	"slices"
	"strconv"
	"strings"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert"
)

// Fallback reasons, the bounded values of the fallback metric's reason
// label.
const (
	reason429       = "status_429"
	reason5xx       = "status_5xx"
	reasonListed    = "status_listed" // in fallback_http_statuses
	reasonTransport = "transport"     // refused, reset or timed out
	// Not picked at all (excluded): passed over for its health (active
	// checks or cooldown) or its ai-rate-limiting budget.
	fallbackUnhealthy   = "unhealthy"
	fallbackRateLimited = "rate_limited"
)

// maxFailedBody bounds what is kept of a failed attempt's body, which the
// client gets if no later attempt answers with a status.
const maxFailedBody = 64 << 10

// retries is a request's fallback state; nil when the plugin cannot
// retry (ai-proxy, or ai-proxy-multi without fallback).
type retries struct {
	body     []byte // the client's body, owned: attempts are built from it
	attempts int    // attempts sent so far
	tried    []int  // instances tried, in order
	sentAt   int64  // when the current attempt was sent
	// holding: the first attempt's response is held while a retry runs,
	// and until an answer written into it has gone (heldBody).
	holding bool
	// last is the latest failed attempt that answered with a status: the
	// client gets it when no later attempt does.
	last     failedAnswer
	lastHeld bool // last is the held first attempt's, its body in held
	held     []byte
	// heldEnded: all of the held response is in held. Without
	// allow_on_headers_stop_iteration none of its body comes while its
	// headers are held: Envoy turns the Pause into
	// StopAllIterationAndWatermark and keeps the body until the filter
	// continues.
	heldEnded bool
	// rewrite: the held response is the host's own local reply, which the
	// final answer replaces in place (sendLocal); out is that answer while
	// the held reply's body has yet to come.
	rewrite bool
	out     []byte
	bodyIn  bool // the held reply's body is buffered in the host
}

// failedAnswer is an upstream's error answer kept for the client.
type failedAnswer struct {
	status int
	ctype  string
	body   []byte
	tr     convert.Translator
	t      *target
}

// canRetry reports whether the plugin retries at all.
func (p *Plugin) canRetry() bool {
	mc := p.multi
	return p.bal != nil && mc != nil && (len(mc.FallbackStrategy) > 0 || len(mc.FallbackHTTPStatuses) > 0)
}

// fallbackReason classifies a failed attempt: the reason label, and
// whether the configuration retries it. status 0 is a transport failure.
func (p *Plugin) fallbackReason(status int) (string, bool) {
	mc := p.multi
	has := func(s string) bool { return slices.Contains(mc.FallbackStrategy, s) }
	switch {
	case status == 0:
		return reasonTransport, has("http_5xx")
	case status == 429 && has("http_429"):
		return reason429, true
	case status >= 500 && status <= 599 && has("http_5xx"):
		return reason5xx, true
	case slices.Contains(mc.FallbackHTTPStatuses, int64(status)):
		return reasonListed, true
	}
	return "", false
}

// startRetries keeps the client's body for later attempts: the host's
// buffer it came in is reused by the next callback.
func (s *Stream) startRetries(body []byte) []byte {
	if !s.p.canRetry() {
		return body
	}
	s.retry = &retries{body: append([]byte(nil), body...), attempts: 1, sentAt: s.h.NowNanos()}
	return s.retry.body
}

// retryFailed is called when an attempt failed before any byte reached
// the client: with its status (0: transport failure) and, when it has
// one, its answer. It starts the next attempt and returns true, or
// returns false when the failure goes to the client.
func (s *Stream) retryFailed(status int, ctype string, body []byte) bool {
	r := s.retry
	if r == nil {
		return false
	}
	now := s.h.NowNanos()
	r.tried = append(r.tried, s.inst)
	if status != 0 {
		// A callout's body lives in the shell's buffer: keep a copy. The
		// held first attempt's body comes later (heldBody).
		r.last = failedAnswer{status: status, ctype: ctype, body: append([]byte(nil), body[:min(len(body), maxFailedBody)]...), tr: s.tr, t: s.t}
		r.lastHeld = body == nil
	}
	reason, ok := s.p.fallbackReason(status)
	mc := s.p.multi
	switch {
	case !ok:
		return false
	case mc.RetryWithinMS > 0 && (now-r.sentAt)/1e6 > mc.RetryWithinMS:
		s.h.Log(LevelWarn, "ai-proxy: instance "+s.p.names[s.inst]+" failed after more than retry_on_failure_within_ms "+strconv.FormatInt(mc.RetryWithinMS, 10)+", not retrying")
		return false
	case mc.MaxRetries >= 0 && int64(r.attempts-1) >= mc.MaxRetries:
		s.h.Log(LevelWarn, "ai-proxy: reached max_retries "+strconv.FormatInt(mc.MaxRetries, 10)+", not retrying")
		return false
	}
	key := ""
	if s.p.bal.chash {
		key = s.hashKey(mc, s.headers)
	}
	next, ok := s.p.bal.pick(key, s.exclusion())
	if !ok {
		return false
	}
	failed := s.p.names[s.inst]
	s.p.recordFallback(s.h, s.inst, reason)
	s.h.Log(LevelWarn, "ai-proxy: instance "+failed+" failed ("+describeFailure(status)+"), falling back to "+s.p.names[next])
	s.sendRetry(next)
	return true
}

func describeFailure(status int) string {
	if status == 0 {
		return "no answer"
	}
	return "status " + strconv.Itoa(status)
}

// sendRetry sends the request again to instance i, as a callout built
// from the client's bytes: nothing of the failed attempt's target,
// translator, headers or answer carries over.
func (s *Stream) sendRetry(i int) {
	r := s.retry
	s.unwatch()
	s.b, s.inst = s.p.backends[i], i
	s.h.SetProperty(instanceProperty, s.p.names[i])
	s.mode = modeCallout
	s.status, s.respStream, s.translate, s.wrapError, s.held = 0, false, false, false, false
	s.respBuf, s.respBytes, s.firstToken = s.respBuf[:0], 0, 0
	s.gcp = tokenWait{}
	r.attempts++
	r.sentAt = s.h.NowNanos()
	s.old = nil // the failed attempt's translator stays with its answer
	if !s.checkBudget() || !s.selectTarget() {
		s.finish()
		return
	}
	a, ok := s.build(r.body)
	if !ok {
		s.finish()
		return
	}
	if s.b.needsToken() {
		pending := a
		pending.body = append([]byte(nil), a.body...)
		s.gcp.pending = &pending
		if !s.tokenReady() {
			return // resumed by the token callout or a tick
		}
		s.gcp.pending = nil
	}
	s.callout(a)
}

// attempts is how many upstream attempts the request made.
func (s *Stream) attempts() int {
	if s.retry == nil {
		return 1
	}
	return s.retry.attempts
}

// excludedAsTried reports whether this request already tried instance i.
func (s *Stream) excludedAsTried(i int) bool {
	return s.retry != nil && slices.Contains(s.retry.tried, i)
}

// holdForRetry looks at the first attempt's response headers (status and
// ctype read): an error that the configuration retries is held while the
// next instance answers; a late answer of an attempt already given up on
// (timed out) is held until the retry's local reply ends the stream.
func (s *Stream) holdForRetry(ctype string) bool {
	r := s.retry
	if r.attempts > 1 || r.holding {
		return true
	}
	if s.status < 400 {
		return false
	}
	status := failureStatus(s.status, ctype)
	r.holding = s.retryFailed(status, ctype, nil)
	// Envoy's own answer (connect failure, reset) is a local reply passing
	// through the filter: a second local reply would stall the stream
	// (https://github.com/envoyproxy/envoy/issues/28826), so the retry's
	// answer is written into this one instead.
	r.rewrite = r.holding && status == 0
	return r.holding
}

// heldBody takes the body of the held failed answer. While the retry
// runs it stays buffered in the host (each callback then sees all of it
// so far), and its start is kept for the client in case no later attempt
// answers with a status: that answer is then written into the held
// response (sendLocal), which keeps the upstream's own headers whether or
// not its body had come. A final answer that is ready replaces what comes.
func (s *Stream) heldBody(size int, eos bool) Action {
	r := s.retry
	if r.out == nil { // the retry is still running: keep the body
		if !r.rewrite {
			r.held = append(r.held[:0], s.h.ResponseBody(size)[:min(size, maxFailedBody)]...)
			r.heldEnded = r.heldEnded || eos
		}
		r.bodyIn = true
		return Pause
	}
	// The answer is ready and the headers went: this chunk carries it.
	s.h.ReplaceResponseBody(r.out)
	r.out = r.out[:0]
	return Continue
}

// sendLocal answers the client. When the answer goes into a response the
// filter holds (rewrite: the host's own local reply, which a second local
// reply would stall, or the held first answer given back with its own
// headers), it is written into that response, which then goes on;
// otherwise it is a local reply of its own.
func (s *Stream) sendLocal(status int, headers [][2]string, body []byte) {
	r := s.retry
	if r == nil || !r.rewrite || !r.holding {
		s.h.SendLocal(status, headers, body)
		return
	}
	r.holding = false
	h := s.h
	h.Activate()
	h.SetResponseHeader(":status", strconv.Itoa(status))
	for _, kv := range headers {
		h.SetResponseHeader(kv[0], kv[1])
	}
	h.SetResponseHeader("content-length", strconv.Itoa(len(body)))
	if r.bodyIn {
		h.ReplaceResponseBody(body)
		r.out = []byte{} // what of the body is still to come is dropped
	} else {
		r.out = append(make([]byte, 0, len(body)), body...) // the body callback still to come writes it
	}
	r.holding = true
	h.ContinueResponse()
}

// retryingInline reports whether the first attempt's response is held
// while a retry runs: its callbacks drop what comes.
func (s *Stream) retryingInline() bool { return s.retry != nil && s.retry.holding }

// failureStatus is a failed answer's status as retryFailed takes it: 0
// for the proxy's own error for an upstream it could not reach (Envoy
// answers a request or callout to an unreachable or silent cluster with a
// 503 or 504 of its own, not JSON).
func failureStatus(status int, ctype string) int {
	if (status == 503 || status == 504) && !strings.Contains(ctype, "json") {
		return 0
	}
	return status
}

// answerLastFailure sends the latest failed answer that had a status,
// when the attempts after it failed without one; false if there is none.
func (s *Stream) answerLastFailure() bool {
	r := s.retry
	if r == nil || r.attempts < 2 {
		return false
	}
	if r.last.status == 0 {
		s.fail(502, "no instance of ai-proxy-multi answered: "+strconv.Itoa(r.attempts)+" attempts failed to connect or timed out")
		s.finish()
		return true
	}
	s.status, s.tr, s.t = r.last.status, r.last.tr, r.last.t
	if r.lastHeld && r.holding && !r.bodyIn && !r.heldEnded {
		// None of the held response's body came yet (see heldEnded): the
		// response goes on as if it had never been held.
		r.holding = false
		s.h.Activate()
		if s.passResponse(r.last.ctype, false) == Continue {
			s.h.ContinueResponse()
		}
		return true
	}
	if r.lastHeld {
		// Its body, if any came, is buffered in the host: the answer is
		// written into the held response (sendLocal).
		r.last.body, r.rewrite = r.held, r.bodyIn
	}
	s.respStream = false
	ctype := r.last.ctype
	if s.translating() || !strings.Contains(ctype, "json") {
		ctype = "application/json"
	}
	s.wrapError = !strings.Contains(r.last.ctype, "json")
	s.answer(ctype, r.last.body)
	return true
}
