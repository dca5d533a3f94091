package core

// What a client may send: the method a path takes and the members each
// protocol requires, refused before anything goes upstream.

import (
	"strconv"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
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

// converseBody rejects an OpenAI chat body sent to a Bedrock Converse
// route: Converse content is a list of blocks, never a string, and it has
// no system or tool roles.
func (s *Stream) converseBody() bool {
	msgs, _ := s.obj.Get("messages")
	openai := false
	jsonbytes.Parse(msgs).ForEach(func(_, m jsonbytes.Value) bool {
		role := m.Get("role").Str()
		if m.Get("content").IsString() || role == "system" || role == "tool" || role == "developer" {
			openai = true
		}
		return !openai
	})
	if openai {
		s.fail(400, "this Bedrock route takes the Converse API format (content as a list of blocks such as [{\"text\":\"...\"}], system as a top-level list); "+
			"the body looks like OpenAI chat: send it to a route whose path does not end in /converse to have it translated")
		return false
	}
	return true
}
