package mock

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"
)

// NewOpenAI starts an OpenAI-compatible provider. It matches on the path
// suffix, so every vendor prefix works: /v1/chat/completions,
// /chat/completions, /api/v1/chat/completions (OpenRouter),
// /v1beta/openai/chat/completions (Gemini),
// /openai/deployments/{d}/chat/completions?api-version=… (Azure, which also
// gets content-filter results and needs api-version), and likewise
// …/embeddings and …/responses. GET …/models and …/models/{id} list a
// model.
func NewOpenAI(opts ...Option) *Server {
	return newServer(opts, func(s *Server, w http.ResponseWriter, r *http.Request, body []byte) {
		werr := errorWriter(openAIError)
		switch name := s.checkKeys(r); {
		case s.cfg.apiKey != "" && r.Header.Get("Authorization") != "Bearer "+s.cfg.apiKey:
			openAIAuthError(w, r.Header.Get("Authorization"))
			return
		case name == "api-key":
			azureError(w, http.StatusUnauthorized, "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.")
			return
		case name != "":
			openAIAuthError(w, "")
			return
		}
		s.serveOpenAIPaths(w, r, body, werr)
	})
}

// serveOpenAIPaths answers the OpenAI-format endpoints; the Anthropic and GCP
// mocks reuse it for their OpenAI-compatible paths, with their own errors.
func (s *Server) serveOpenAIPaths(w http.ResponseWriter, r *http.Request, body []byte, werr errorWriter) {
	p := r.URL.Path
	if azureDeployment(p) != "" && r.URL.Query().Get("api-version") == "" {
		azureError(w, http.StatusNotFound, "Resource not found")
		return
	}
	if !s.gate(w, r, werr) {
		return
	}
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/chat/completions"):
		s.chat(w, r, body, werr)
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/embeddings"):
		s.embeddings(w, r, body, werr)
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/responses"):
		s.responses(w, r, body, werr)
	case r.Method == http.MethodGet && strings.HasSuffix(p, "/models"):
		writeJSON(w, http.StatusOK, obj{"object": "list", "data": []obj{mockModel("gpt-4o-mini")}})
	case r.Method == http.MethodGet && strings.Contains(p, "/models/"):
		writeJSON(w, http.StatusOK, mockModel(p[strings.LastIndex(p, "/models/")+len("/models/"):]))
	default:
		werr(w, http.StatusNotFound, "", fmt.Sprintf("Invalid URL (%s %s)", r.Method, p))
	}
}

// mockModel is a model object as GET /v1/models lists it.
func mockModel(id string) obj {
	return obj{"id": id, "object": "model", "created": 1700000000, "owned_by": "mock"}
}

func openAIError(w http.ResponseWriter, status int, code, msg string) {
	typ := "invalid_request_error"
	switch {
	case status == http.StatusTooManyRequests:
		typ = "rate_limit_error"
	case status == http.StatusForbidden:
		typ = "permission_error"
	case status >= 500:
		typ = "server_error"
	}
	var c any
	if code != "" {
		c = code
	}
	writeJSON(w, status, obj{"error": obj{"message": msg, "type": typ, "param": nil, "code": c}})
}

func openAIAuthError(w http.ResponseWriter, got string) {
	if got == "" {
		openAIError(w, http.StatusUnauthorized, "", "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.")
		return
	}
	openAIError(w, http.StatusUnauthorized, "invalid_api_key", "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.")
}

func azureError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, obj{"error": obj{"code": fmt.Sprint(status), "message": msg}})
}

// azureDeployment returns {d} of /openai/deployments/{d}/…, or "".
func azureDeployment(path string) string {
	const marker = "/openai/deployments/"
	i := strings.Index(path, marker)
	if i < 0 {
		return ""
	}
	d, _, _ := strings.Cut(path[i+len(marker):], "/")
	return d
}

// parseBody checks the body is JSON and has a model (or an Azure deployment).
func parseBody(w http.ResponseWriter, r *http.Request, body []byte, werr errorWriter) (gjson.Result, string, bool) {
	if !gjson.ValidBytes(body) {
		werr(w, http.StatusBadRequest, "", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)")
		return gjson.Result{}, "", false
	}
	req := gjson.ParseBytes(body)
	model := req.Get("model").String()
	if model == "" {
		model = azureDeployment(r.URL.Path)
	}
	if model == "" {
		werr(w, http.StatusBadRequest, "", "you must provide a model parameter")
		return req, "", false
	}
	return req, model, true
}

var openAIRoles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true, "function": true}

func (s *Server) chat(w http.ResponseWriter, r *http.Request, body []byte, werr errorWriter) {
	req, model, ok := parseBody(w, r, body, werr)
	if !ok {
		return
	}
	msgs := req.Get("messages")
	stream := req.Get("stream").Bool()
	switch {
	case !msgs.Exists():
		werr(w, http.StatusBadRequest, "missing_required_parameter", "Missing required parameter: 'messages'.")
		return
	case len(msgs.Array()) == 0:
		werr(w, http.StatusBadRequest, "empty_array", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
		return
	case req.Get("stream_options").Exists() && !stream:
		werr(w, http.StatusBadRequest, "invalid_value", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
		return
	}
	p := prompt{words: wordsOf(msgs), maxTokens: int(req.Get("max_completion_tokens").Int())}
	if p.maxTokens == 0 {
		p.maxTokens = int(req.Get("max_tokens").Int())
	}
	arr := msgs.Array()
	for i, m := range arr {
		if role := m.Get("role").String(); !openAIRoles[role] {
			werr(w, http.StatusBadRequest, "invalid_value", fmt.Sprintf("Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'. (messages[%d].role)", role, i))
			return
		}
	}
	for i := len(arr) - 1; i >= 0; i-- {
		if role := arr[i].Get("role").String(); role == "user" || role == "tool" || role == "function" {
			p.last, p.toolResult = textOf(arr[i].Get("content")), role != "user"
			break
		}
	}
	for _, t := range req.Get("tools").Array() {
		p.tools = append(p.tools, tool{t.Get("function.name").String(), t.Get("function.parameters")})
	}
	switch tc := req.Get("tool_choice"); {
	case tc.IsObject():
		p.choice = tc.Get("function.name").String()
	case tc.String() == "required":
		p.choice = "any"
	case tc.String() == "none":
		p.choice = "none"
	}
	a := s.answer(p)
	n := s.next()
	c := chatReply{id: fmt.Sprintf("chatcmpl-mock-%d", n), model: model, n: n, a: a, azure: azureDeployment(r.URL.Path) != ""}
	w.Header().Set("X-Request-Id", fmt.Sprintf("req_mock_%d", n))
	if !stream {
		writeJSON(w, http.StatusOK, c.full())
		return
	}
	errEv := sse("", obj{"error": obj{"message": "The server had an error while processing your request. Sorry about that!", "type": "server_error", "param": nil, "code": nil}})
	s.stream(w, r, "text/event-stream; charset=utf-8", c.chunks(s, req.Get("stream_options.include_usage").Bool()), errEv)
}

type chatReply struct {
	id, model string
	n         int64
	a         answer
	azure     bool
}

func (c chatReply) finish() string {
	return [...]string{stopEnd: "stop", stopLength: "length", stopTool: "tool_calls"}[c.a.stop]
}

func (c chatReply) callID(i int) string { return fmt.Sprintf("call_mock_%d_%d", c.n, i) }

func openAIUsage(a answer) obj {
	in := a.in + a.cached
	return obj{
		"prompt_tokens": in, "completion_tokens": a.out, "total_tokens": in + a.out,
		"prompt_tokens_details":     obj{"cached_tokens": a.cached, "audio_tokens": 0},
		"completion_tokens_details": obj{"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
	}
}

func (c chatReply) full() obj {
	msg := obj{"role": "assistant", "content": nil, "refusal": nil, "annotations": []any{}}
	if c.a.text != "" {
		msg["content"] = c.a.text
	}
	if len(c.a.calls) > 0 {
		var calls []obj
		for i, tc := range c.a.calls {
			calls = append(calls, obj{"id": c.callID(i), "type": "function", "function": obj{"name": tc.name, "arguments": tc.args}})
		}
		msg["tool_calls"] = calls
	}
	choice := obj{"index": 0, "message": msg, "logprobs": nil, "finish_reason": c.finish()}
	resp := obj{
		"id": c.id, "object": "chat.completion", "created": Created, "model": c.model,
		"choices": []obj{choice}, "usage": openAIUsage(c.a), "service_tier": "default", "system_fingerprint": nil,
	}
	if c.azure {
		choice["content_filter_results"] = obj{}
		resp["prompt_filter_results"] = []obj{{"prompt_index": 0, "content_filter_results": obj{}}}
	}
	return resp
}

// chunks renders the stream like api.openai.com: role first, one delta per
// piece, a finish chunk, the usage chunk when asked for, then [DONE]. Azure
// streams start with a prompt_filter_results chunk that has no choices.
func (c chatReply) chunks(s *Server, includeUsage bool) [][]byte {
	chunk := func(delta obj, finish any) []byte {
		ch := obj{
			"id": c.id, "object": "chat.completion.chunk", "created": Created, "model": c.model,
			"service_tier": "default", "system_fingerprint": nil,
			"choices": []obj{{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}},
		}
		if includeUsage {
			ch["usage"] = nil
		}
		return sse("", ch)
	}
	var ev [][]byte
	if c.azure {
		ev = append(ev, sse("", obj{"choices": []obj{}, "created": 0, "id": "", "model": "", "object": "",
			"prompt_filter_results": []obj{{"prompt_index": 0, "content_filter_results": obj{}}}}))
	}
	if len(c.a.calls) == 0 {
		ev = append(ev, chunk(obj{"role": "assistant", "content": "", "refusal": nil}, nil))
		for _, p := range s.pieces(c.a.text) {
			ev = append(ev, chunk(obj{"content": p}, nil))
		}
	}
	for i, tc := range c.a.calls {
		first := obj{"tool_calls": []obj{{"index": i, "id": c.callID(i), "type": "function", "function": obj{"name": tc.name, "arguments": ""}}}}
		if i == 0 {
			first["role"], first["content"], first["refusal"] = "assistant", nil, nil
		}
		ev = append(ev, chunk(first, nil))
		for _, frag := range argPieces(tc.args)[1:] {
			ev = append(ev, chunk(obj{"tool_calls": []obj{{"index": i, "function": obj{"arguments": frag}}}}, nil))
		}
	}
	ev = append(ev, chunk(obj{}, c.finish()))
	if includeUsage {
		ev = append(ev, sse("", obj{
			"id": c.id, "object": "chat.completion.chunk", "created": Created, "model": c.model,
			"service_tier": "default", "system_fingerprint": nil, "choices": []obj{}, "usage": openAIUsage(c.a),
		}))
	}
	return append(ev, sse("", "[DONE]"))
}

// embeddings answers with Embedding(input, dimensions) per input. Token-id
// inputs embed their ids joined by spaces and count one token per id.
func (s *Server) embeddings(w http.ResponseWriter, r *http.Request, body []byte, werr errorWriter) {
	req, model, ok := parseBody(w, r, body, werr)
	if !ok {
		return
	}
	var texts []string
	tokens := 0
	in := req.Get("input")
	items := []gjson.Result{in}
	if in.IsArray() && len(in.Array()) > 0 && in.Get("0").Type != gjson.Number {
		items = in.Array()
	}
	for _, it := range items {
		switch {
		case it.Type == gjson.String && it.Str != "":
			texts = append(texts, it.Str)
			tokens += len(strings.Fields(it.Str))
		case it.IsArray() && len(it.Array()) > 0:
			var ids []string
			for _, id := range it.Array() {
				ids = append(ids, id.Raw)
			}
			texts = append(texts, strings.Join(ids, " "))
			tokens += len(ids)
		default:
			werr(w, http.StatusBadRequest, "", "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.")
			return
		}
	}
	dims := int(req.Get("dimensions").Int())
	if dims <= 0 {
		dims = defaultDims
	}
	b64 := req.Get("encoding_format").String() == "base64"
	var data []obj
	for i, t := range texts {
		var e any = Embedding(t, dims)
		if b64 {
			e = base64Floats(e.([]float32))
		}
		data = append(data, obj{"object": "embedding", "index": i, "embedding": e})
	}
	writeJSON(w, http.StatusOK, obj{"object": "list", "data": data, "model": model,
		"usage": obj{"prompt_tokens": tokens, "total_tokens": tokens}})
}

// base64Floats encodes v as OpenAI's encoding_format "base64": little-endian
// float32s.
func base64Floats(v []float32) string {
	b := make([]byte, 0, 4*len(v))
	for _, f := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// responses answers the Responses API, streaming like the openapi example.
func (s *Server) responses(w http.ResponseWriter, r *http.Request, body []byte, werr errorWriter) {
	req, model, ok := parseBody(w, r, body, werr)
	if !ok {
		return
	}
	in := req.Get("input")
	if !in.Exists() {
		werr(w, http.StatusBadRequest, "missing_required_parameter", "Missing required parameter: 'input'.")
		return
	}
	p := prompt{words: wordsOf(req.Get("instructions"), in), maxTokens: int(req.Get("max_output_tokens").Int())}
	if in.Type == gjson.String {
		p.last = in.Str
	}
	items := in.Array()
	for i := len(items) - 1; i >= 0 && in.IsArray(); i-- {
		if it := items[i]; it.Get("type").String() == "function_call_output" {
			p.last, p.toolResult = textOf(it.Get("output")), true
			break
		} else if it.Get("role").String() == "user" {
			p.last = textOf(it.Get("content"))
			break
		}
	}
	for _, t := range req.Get("tools").Array() {
		if t.Get("type").String() == "function" {
			p.tools = append(p.tools, tool{t.Get("name").String(), t.Get("parameters")})
		}
	}
	switch tc := req.Get("tool_choice"); {
	case tc.IsObject():
		p.choice = tc.Get("name").String()
	case tc.String() == "required":
		p.choice = "any"
	case tc.String() == "none":
		p.choice = "none"
	}
	n := s.next()
	rr := responsesReply{req: req, model: model, n: n, a: s.answer(p)}
	w.Header().Set("X-Request-Id", fmt.Sprintf("req_mock_%d", n))
	if !req.Get("stream").Bool() {
		writeJSON(w, http.StatusOK, rr.object(rr.status(), rr.items("completed"), true))
		return
	}
	errEv := sse("error", obj{"type": "error", "code": "server_error", "message": "The server had an error while processing your request. Sorry about that!", "param": nil, "sequence_number": 0})
	s.stream(w, r, "text/event-stream; charset=utf-8", rr.events(s), errEv)
}

type responsesReply struct {
	req   gjson.Result
	model string
	n     int64
	a     answer
}

func (rr responsesReply) status() string {
	if rr.a.stop == stopLength {
		return "incomplete"
	}
	return "completed"
}

func (rr responsesReply) msgID() string { return fmt.Sprintf("msg_mock_%d", rr.n) }

func (rr responsesReply) object(status string, output []obj, withUsage bool) obj {
	raw := func(path string, def any) any {
		if v := rr.req.Get(path); v.Exists() {
			return json.RawMessage(v.Raw)
		}
		return def
	}
	o := obj{
		"id": fmt.Sprintf("resp_mock_%d", rr.n), "object": "response", "created_at": Created, "status": status,
		"error": nil, "incomplete_details": nil, "instructions": raw("instructions", nil),
		"max_output_tokens": raw("max_output_tokens", nil), "model": rr.model, "output": output,
		"parallel_tool_calls": true, "previous_response_id": nil, "reasoning": obj{"effort": nil, "summary": nil},
		"store": true, "temperature": 1.0, "text": obj{"format": obj{"type": "text"}},
		"tool_choice": raw("tool_choice", "auto"), "tools": raw("tools", []any{}), "top_p": 1.0,
		"truncation": "disabled", "usage": nil, "user": nil, "metadata": obj{},
	}
	if status == "incomplete" {
		o["incomplete_details"] = obj{"reason": "max_output_tokens"}
	}
	if withUsage {
		in := rr.a.in + rr.a.cached
		o["usage"] = obj{
			"input_tokens": in, "input_tokens_details": obj{"cached_tokens": rr.a.cached},
			"output_tokens": rr.a.out, "output_tokens_details": obj{"reasoning_tokens": 0},
			"total_tokens": in + rr.a.out,
		}
	}
	return o
}

// items returns the output items with the given item status.
func (rr responsesReply) items(status string) []obj {
	if len(rr.a.calls) == 0 {
		content := []obj{}
		if status == "completed" {
			content = []obj{{"type": "output_text", "text": rr.a.text, "annotations": []any{}}}
		}
		return []obj{{"type": "message", "id": rr.msgID(), "status": status, "role": "assistant", "content": content}}
	}
	var out []obj
	for i, c := range rr.a.calls {
		args := c.args
		if status != "completed" {
			args = ""
		}
		out = append(out, obj{"type": "function_call", "id": fmt.Sprintf("fc_mock_%d_%d", rr.n, i),
			"call_id": fmt.Sprintf("call_mock_%d_%d", rr.n, i), "name": c.name, "arguments": args, "status": status})
	}
	return out
}

func (rr responsesReply) events(s *Server) [][]byte {
	var ev [][]byte
	seq := 0
	add := func(typ string, fields obj) {
		fields["type"], fields["sequence_number"] = typ, seq
		seq++
		ev = append(ev, sse(typ, fields))
	}
	add("response.created", obj{"response": rr.object("in_progress", []obj{}, false)})
	add("response.in_progress", obj{"response": rr.object("in_progress", []obj{}, false)})
	started, done := rr.items("in_progress"), rr.items("completed")
	for i := range started {
		add("response.output_item.added", obj{"output_index": i, "item": started[i]})
		id := started[i]["id"]
		if len(rr.a.calls) == 0 {
			where := func(f obj) obj { f["item_id"], f["output_index"], f["content_index"] = id, i, 0; return f }
			add("response.content_part.added", where(obj{"part": obj{"type": "output_text", "text": "", "annotations": []any{}}}))
			for _, p := range s.pieces(rr.a.text) {
				add("response.output_text.delta", where(obj{"delta": p, "logprobs": []any{}}))
			}
			add("response.output_text.done", where(obj{"text": rr.a.text, "logprobs": []any{}}))
			add("response.content_part.done", where(obj{"part": obj{"type": "output_text", "text": rr.a.text, "annotations": []any{}}}))
		} else {
			for _, frag := range argPieces(rr.a.calls[i].args)[1:] {
				add("response.function_call_arguments.delta", obj{"item_id": id, "output_index": i, "delta": frag})
			}
			add("response.function_call_arguments.done", obj{"item_id": id, "output_index": i, "arguments": rr.a.calls[i].args})
		}
		add("response.output_item.done", obj{"output_index": i, "item": done[i]})
	}
	final := "response.completed"
	if rr.status() == "incomplete" {
		final = "response.incomplete"
	}
	add(final, obj{"response": rr.object(rr.status(), done, true)})
	return ev
}
