package core

// The response side of a Stream: observing usage and converting the
// answer to the client's protocol.

import (
	"errors"
	"strconv"
	"strings"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert"
)

// Observing reports whether the response concerns the filter: false for
// requests that were not AI requests (no body), whose responses pass
// untouched, so the shell need not even read their headers.
// A held response that a retry's answer replaces is observed until
// its body carries that answer.
func (s *Stream) Observing() bool { return s.ai && !s.local || s.retryingInline() }

// translating reports whether response bytes differ between the protocols.
func (s *Stream) translating() bool { return s.client != s.t.upstream }

// readStatus sets s.status from a response's :status and returns its
// content-type.
func (s *Stream) readStatus(headers [][2]string) (ctype string) {
	for _, kv := range headers {
		switch kv[0] {
		case ":status":
			s.status, _ = strconv.Atoi(kv[1])
		case "content-type":
			ctype = kv[1]
		}
	}
	return ctype
}

// OnResponseHeaders sees the upstream's response headers; eos means no
// body follows.
func (s *Stream) OnResponseHeaders(headers [][2]string, eos bool) Action {
	if s.local || s.tr == nil { // not built: nothing to observe
		return Continue
	}
	ctype := s.readStatus(headers)
	if s.retry == nil || s.retry.attempts == 1 { // not a late answer of an attempt given up on
		s.notePassiveResponse(headers, false)
	}
	if s.retry != nil && s.holdForRetry(ctype) {
		s.retry.heldEnded = s.retry.heldEnded || eos
		return Pause
	}
	return s.passResponse(ctype, eos)
}

// passResponse lets response headers go on, set up for the body to come.
func (s *Stream) passResponse(ctype string, eos bool) Action {
	s.idle.activity++
	s.setQuotaHeaders()
	s.respStream = convert.IsStreamContentType(ctype)
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
	if s.retryingInline() {
		return s.heldBody(size, eos)
	}
	if s.local || s.tr == nil { // not built: nothing to observe
		return Continue
	}
	if s.aborted {
		s.h.ReplaceResponseBody(nil)
		return Continue
	}
	s.idle.activity++
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

// answer sends the converted (or observed) complete upstream body as the
// filter's own response: the callout's answer, or an upstream response
// that ended with its headers.
func (s *Stream) answer(ctype string, body []byte) {
	out, _ := s.responseBody(body, true)
	if s.respStream && s.status < 400 {
		ctype = s.tr.StreamContentType()
	}
	s.local = true
	s.sendLocal(s.status, s.quotaHeaders([][2]string{{"content-type", ctype}}), out)
	s.finish()
}
