package mock

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"
)

// NewAnthropic starts an Anthropic provider: POST /v1/messages (any prefix,
// e.g. DeepSeek's /anthropic/v1/messages), JSON or SSE, and Anthropic's
// OpenAI-compatible POST /v1/chat/completions.
//
// /v1/messages requires anthropic-version (2023-06-01 or 2023-01-01),
// model, max_tokens and messages with user/assistant roles, and rejects
// unknown top-level fields like the real API ("x: Extra inputs are not
// permitted"), which catches OpenAI fields leaking through a translation.
func NewAnthropic(opts ...Option) *Server {
	return newServer(opts, func(s *Server, w http.ResponseWriter, r *http.Request, body []byte) {
		p := r.URL.Path
		if r.Method == http.MethodPost && strings.HasSuffix(p, "/chat/completions") {
			bearer := r.Header.Get("Authorization") == "Bearer "+s.cfg.apiKey
			if (s.cfg.apiKey != "" && !bearer && r.Header.Get("X-Api-Key") != s.cfg.apiKey) || s.checkKeys(r) != "" {
				openAIError(w, http.StatusUnauthorized, "", "invalid x-api-key")
				return
			}
			s.serveOpenAIPaths(w, r, body, openAIError)
			return
		}
		if r.Method != http.MethodPost || !strings.HasSuffix(p, "/v1/messages") {
			anthropicError(w, http.StatusNotFound, "", "Not Found")
			return
		}
		switch v := r.Header.Get("Anthropic-Version"); {
		case v == "":
			anthropicError(w, http.StatusBadRequest, "", "anthropic-version: header is required")
			return
		case v != "2023-06-01" && v != "2023-01-01":
			anthropicError(w, http.StatusBadRequest, "", fmt.Sprintf("anthropic-version: invalid version %q", v))
			return
		}
		if (s.cfg.apiKey != "" && r.Header.Get("X-Api-Key") != s.cfg.apiKey) || s.checkKeys(r) != "" {
			anthropicError(w, http.StatusUnauthorized, "", "invalid x-api-key")
			return
		}
		if s.gate(w, r, anthropicError) {
			s.messages(w, r, body)
		}
	})
}

func anthropicError(w http.ResponseWriter, status int, typ, msg string) {
	if typ == "" {
		typ = map[int]string{400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
			404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 529: "overloaded_error"}[status]
	}
	if typ == "" {
		typ = "api_error"
	}
	writeJSON(w, status, obj{"type": "error", "error": obj{"type": typ, "message": msg}, "request_id": "req_mock_error"})
}

// anthropicFields are the top-level MessageCreateParams fields.
var anthropicFields = map[string]bool{
	"model": true, "messages": true, "max_tokens": true, "system": true, "metadata": true,
	"stop_sequences": true, "stream": true, "temperature": true, "top_p": true, "top_k": true,
	"tools": true, "tool_choice": true, "thinking": true, "service_tier": true, "container": true,
	"mcp_servers": true, "context_management": true, "output_config": true, "output_format": true,
	"cache_control": true, "inference_geo": true,
}

func (s *Server) messages(w http.ResponseWriter, r *http.Request, body []byte) {
	bad := func(msg string) { anthropicError(w, http.StatusBadRequest, "", msg) }
	if !gjson.ValidBytes(body) {
		bad("There was an error parsing the body of your request. Please make sure it is valid JSON.")
		return
	}
	req := gjson.ParseBytes(body)
	var extra string
	req.ForEach(func(k, _ gjson.Result) bool {
		if !anthropicFields[k.String()] {
			extra = k.String()
		}
		return extra == ""
	})
	msgs := req.Get("messages").Array()
	switch {
	case extra != "":
		bad(extra + ": Extra inputs are not permitted")
		return
	case !req.Get("model").Exists():
		bad("model: Field required")
		return
	case !req.Get("max_tokens").Exists():
		bad("max_tokens: Field required")
		return
	case len(msgs) == 0:
		bad("messages: Field required")
		return
	}
	for i, m := range msgs {
		if role := m.Get("role").String(); role != "user" && role != "assistant" {
			bad(fmt.Sprintf("messages.%d.role: Input should be 'user' or 'assistant'", i))
			return
		}
	}
	p := prompt{words: wordsOf(req.Get("system"), req.Get("messages")), maxTokens: int(req.Get("max_tokens").Int())}
	for i := len(msgs) - 1; i >= 0; i-- {
		if m := msgs[i]; m.Get("role").String() == "user" {
			p.last = textOf(m.Get("content"))
			p.toolResult = m.Get(`content.#(type=="tool_result")`).Exists()
			break
		}
	}
	for _, t := range req.Get("tools").Array() {
		p.tools = append(p.tools, tool{t.Get("name").String(), t.Get("input_schema")})
	}
	switch tc := req.Get("tool_choice"); tc.Get("type").String() {
	case "any":
		p.choice = "any"
	case "none":
		p.choice = "none"
	case "tool":
		p.choice = tc.Get("name").String()
	}
	n := s.next()
	m := anthropicReply{id: fmt.Sprintf("msg_mock_%d", n), model: req.Get("model").String(), n: n, a: s.answer(p)}
	w.Header().Set("Request-Id", fmt.Sprintf("req_mock_%d", n))
	if !req.Get("stream").Bool() {
		writeJSON(w, http.StatusOK, m.message(m.content(), m.stopReason(), m.usage(m.a.out)))
		return
	}
	errEv := sse("error", obj{"type": "error", "error": obj{"type": "overloaded_error", "message": "Overloaded"}})
	s.stream(w, r, "text/event-stream; charset=utf-8", m.events(s), errEv)
}

type anthropicReply struct {
	id, model string
	n         int64
	a         answer
}

func (m anthropicReply) toolID(i int) string { return fmt.Sprintf("toolu_mock_%d_%d", m.n, i) }

func (m anthropicReply) stopReason() string {
	return [...]string{stopEnd: "end_turn", stopLength: "max_tokens", stopTool: "tool_use"}[m.a.stop]
}

func (m anthropicReply) usage(out int) obj {
	return obj{
		"input_tokens": m.a.in, "cache_creation_input_tokens": 0, "cache_read_input_tokens": m.a.cached,
		"cache_creation": obj{"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
		"output_tokens":  out, "service_tier": "standard",
	}
}

func (m anthropicReply) message(content []obj, stop any, usage obj) obj {
	return obj{"id": m.id, "type": "message", "role": "assistant", "model": m.model, "content": content,
		"stop_reason": stop, "stop_sequence": nil, "usage": usage}
}

func (m anthropicReply) content() []obj {
	content := []obj{}
	if m.a.text != "" {
		content = append(content, obj{"type": "text", "text": m.a.text})
	}
	for i, c := range m.a.calls {
		content = append(content, obj{"type": "tool_use", "id": m.toolID(i), "name": c.name, "input": json.RawMessage(c.args)})
	}
	return content
}

// events renders the stream like api.anthropic.com: message_start, each
// block (a ping after the first block starts), message_delta with the
// cumulative usage, message_stop.
func (m anthropicReply) events(s *Server) [][]byte {
	var ev [][]byte
	add := func(typ string, fields obj) {
		fields["type"] = typ
		ev = append(ev, sse(typ, fields))
	}
	add("message_start", obj{"message": m.message([]obj{}, nil, m.usage(1))})
	block := 0
	start := func(cb obj) {
		add("content_block_start", obj{"index": block, "content_block": cb})
		if block == 0 {
			ev = append(ev, sse("ping", `{"type": "ping"}`))
		}
	}
	if m.a.text != "" {
		start(obj{"type": "text", "text": ""})
		for _, p := range s.pieces(m.a.text) {
			add("content_block_delta", obj{"index": block, "delta": obj{"type": "text_delta", "text": p}})
		}
		add("content_block_stop", obj{"index": block})
		block++
	}
	for i, c := range m.a.calls {
		start(obj{"type": "tool_use", "id": m.toolID(i), "name": c.name, "input": obj{}})
		for _, frag := range argPieces(c.args) {
			add("content_block_delta", obj{"index": block, "delta": obj{"type": "input_json_delta", "partial_json": frag}})
		}
		add("content_block_stop", obj{"index": block})
		block++
	}
	add("message_delta", obj{"delta": obj{"stop_reason": m.stopReason(), "stop_sequence": nil}, "usage": obj{"output_tokens": m.a.out}})
	add("message_stop", obj{})
	return ev
}
