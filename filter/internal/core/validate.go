package core

// What a client may send: the method a path takes and the members each
// protocol requires, refused before anything goes upstream.

import (
	"strconv"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert"
)

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

// recognised refuses, with a 400, a request that lacks what its protocol
// requires (convert.CheckRequest).
func (s *Stream) recognised() bool {
	if msg := convert.CheckRequest(s.client, &s.obj, s.b.cfg.MaxTokens > 0); msg != "" {
		s.fail(400, msg)
		return false
	}
	return true
}
