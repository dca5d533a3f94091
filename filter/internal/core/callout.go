package core

// Requests the filter sends itself (callout mode and reads on hosts that
// cannot rewrite bodies) and their answers.

import (
	"strconv"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert"
)

// callout sends the upstream request from the filter.
func (s *Stream) callout(a Attempt) Action {
	t := s.t
	s.method = "POST"
	h := s.upstreamHeaders(a.path, append(a.headers, [2]string{"content-type", "application/json"}))
	s.idle.calloutAt = s.h.NowNanos()
	if !s.h.Call(t.cluster, h, a.body, s.calloutTimeoutMS()) {
		return s.fail(502, "cannot reach "+t.authority+": the host refused the callout to cluster "+strconv.Quote(t.cluster))
	}
	return Pause
}

// OnCallResponse receives the callout's answer; ok is false when the
// transport failed.
func (s *Stream) OnCallResponse(headers [][2]string, body []byte, ok bool) {
	if s.gcp.call {
		status, _ := strconv.Atoi(header(headers, ":status"))
		s.onTokenResponse(status, body, ok)
		return
	}
	if s.read {
		s.relayRead(headers, body, ok)
		return
	}
	if !ok {
		s.notePassiveResponse(nil, true)
		if s.retryFailed(0, "", nil) || s.answerLastFailure() {
			return
		}
		if ms := int64(s.calloutTimeoutMS()); (s.h.NowNanos()-s.idle.calloutAt)/1e6 >= ms {
			// APISIX reports a timed-out callout like any failure.
			s.fail(504, "upstream "+s.t.authority+" failed or stayed silent for timeout "+strconv.FormatInt(ms, 10)+" ms")
		} else {
			s.fail(502, "upstream "+s.t.authority+" failed before answering (connection reset or response too large)")
		}
		s.finish()
		return
	}
	s.status = 200
	ctype := s.readStatus(headers)
	s.notePassiveResponse(headers, false)
	if s.status >= 400 && s.retry != nil {
		status := failureStatus(s.status, ctype)
		if s.retryFailed(status, ctype, body) || status == 0 && s.answerLastFailure() {
			return
		}
	}
	if failureStatus(s.status, ctype) == 0 {
		msg := "upstream " + s.t.authority + " did not answer within " + strconv.FormatUint(uint64(s.calloutTimeoutMS()), 10) + " ms"
		if s.status == 503 {
			msg = "cannot connect to upstream " + s.t.authority
		}
		s.fail(s.status, msg)
		s.finish()
		return
	}
	s.respStream = convert.IsStreamContentType(ctype)
	s.noteFirstByte()
	if s.translating() {
		ctype = "application/json"
	}
	s.answer(ctype, body)
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
	var out [][2]string
	if ctype := s.readStatus(headers); ctype != "" {
		out = [][2]string{{"content-type", ctype}}
	}
	s.local = true
	s.h.SendLocal(s.status, out, body)
	s.finish()
}
