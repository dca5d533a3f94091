package core

// The end of a request: properties, metrics and the summary line.

import (
	"strconv"
	"unsafe"
)

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
	s.chargeBudget(u)
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
	if s.p.bal != nil {
		s.p.recordAttempts(s.h, s.attempts())
	}
	if s.p.cfg.LogSummaries {
		b := make([]byte, 0, 256)
		b = append(b, `ai-proxy summary: {"provider":`...)
		b = appendJSONString(b, s.b.provider.Name)
		if s.p.bal != nil {
			b = append(b, `,"instance":`...)
			b = appendJSONString(b, s.p.names[s.inst])
			b = append(b, `,"attempts":`...)
			b = strconv.AppendInt(b, int64(s.attempts()), 10)
		}
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
