// Package mock runs fake LLM providers on loopback for the e2e tests and the
// local gateway.
//
// Each constructor (NewOpenAI, NewAnthropic, NewBedrock, NewGCP) starts one
// HTTP server on 127.0.0.1:0 that answers on the provider's real paths, checks
// auth the way the provider does and replies with bodies shaped like the
// published examples (see testdata/README.md). Requests are recorded: all
// of them, or the last n with WithRecordLimit.
//
// Answers are deterministic so tests can assert them:
//   - the reply text is "You said: <text of the last user message>", or
//     "Tool returned: <text>" when that message carries a tool result;
//   - when the request declares tools and the last user message contains
//     "weather" (or tool choice forces a call), the model calls the first tool
//     (every tool when the message also contains "parallel"; the named tool
//     when tool choice names one) with arguments built from the tool's JSON
//     schema: each required property (all properties when none is required)
//     gets its first enum value, or "mock", 1, true, [] or {} by type;
//   - input tokens = words (strings.Fields) across the system prompt and all
//     message text; output tokens = words of the reply, plus 2 per tool call;
//   - a max-token limit smaller than the reply truncates it to that many words
//     and reports the provider's "length" stop reason;
//   - ids count up per server (chatcmpl-mock-1, msg_mock_2, ...) and created
//     timestamps are fixed (Created).
//
// Options apply to every provider; those that only make sense for one say so.
// WithStatus, WithDelay and WithHang affect model endpoints only, never the
// GCP token endpoint.
package mock

import (
	"bytes"
	"crypto/rsa"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/gjson"
)

// Created is the fixed unix time every mock reports as creation time.
const Created = 1700000000

// Recorded is one request as the mock saw it.
type Recorded struct {
	Method string
	// Path is the decoded path; EscapedPath is the path as sent on the wire
	// (it keeps %3A and %2F in Bedrock model ids).
	Path, EscapedPath string
	RawQuery          string
	Host              string
	Header            http.Header
	Body              []byte
	// Model is the model the request addressed: the decoded {modelId} path
	// segment for Bedrock, {model} of a Vertex publishers/.../models/{model}:
	// path, otherwise the body's "model" (or the Azure deployment).
	Model string
}

// Get returns the value at gjson path in the JSON body.
func (r Recorded) Get(path string) gjson.Result { return gjson.GetBytes(r.Body, path) }

// Server is one mock provider.
type Server struct {
	// URL is the base URL, http://127.0.0.1:port, without a trailing slash.
	URL string

	cfg      config
	srv      *httptest.Server
	closed   chan struct{}
	closeOne sync.Once
	seq      atomic.Int64

	mu     sync.Mutex
	reqs   []Recorded           // the last cfg.keep requests when cfg.keep >= 0
	seen   int                  // requests seen, recorded or not
	tokens map[string]time.Time // GCP: issued access token → expiry
}

// Option configures a Server.
type Option func(*config)

type config struct {
	apiKey      string
	headers     [][2]string // required request header name, exact value
	query       [][2]string // required query parameter name, exact value
	status      int
	statusBody  string
	delay       time.Duration
	chunkDelay  time.Duration
	chunks      int
	hang        bool
	fragment    bool
	coalesce    bool
	errAfter    int
	cutAfter    int
	cached      int
	aws         *AWSCredentials
	tokenTTL    int
	jwtKey      *rsa.PublicKey
	respHeaders [][2]string
	keep        int // requests kept for Requests and Last; < 0 = all
}

// WithAPIKey requires key where the provider expects it: OpenAI-compatible
// "Authorization: Bearer key"; Anthropic "x-api-key: key" (the OpenAI-compatible
// path also takes Bearer); Bedrock "Authorization: Bearer key" (Bedrock API
// keys); GCP "?key=key" or "x-goog-api-key: key" (Vertex express mode), which
// replaces the access-token check.
func WithAPIKey(key string) Option { return func(c *config) { c.apiKey = key } }

// WithAuthHeader requires request header name to equal value exactly, for
// example WithAuthHeader("api-key", k) for Azure OpenAI.
func WithAuthHeader(name, value string) Option {
	return func(c *config) { c.headers = append(c.headers, [2]string{name, value}) }
}

// WithQueryKey requires query parameter name to equal value, for example
// WithQueryKey("key", k) for Gemini.
func WithQueryKey(name, value string) Option {
	return func(c *config) { c.query = append(c.query, [2]string{name, value}) }
}

// WithStatus makes every model request fail with code. An empty body gets the
// provider's own error JSON for that status (and, for Bedrock, the matching
// x-amzn-ErrorType header); a given body is sent as is, with Content-Type
// application/json (add headers with WithHeader).
func WithStatus(code int, body string) Option {
	return func(c *config) { c.status, c.statusBody = code, body }
}

// WithHeader adds a response header to every reply.
func WithHeader(name, value string) Option {
	return func(c *config) { c.respHeaders = append(c.respHeaders, [2]string{name, value}) }
}

// WithDelay waits d before sending the first byte of a reply.
func WithDelay(d time.Duration) Option { return func(c *config) { c.delay = d } }

// WithChunkDelay waits d between stream events.
func WithChunkDelay(d time.Duration) Option { return func(c *config) { c.chunkDelay = d } }

// WithStreamChunks makes the reply text arrive in exactly n content deltas
// when streamed. The reply is padded with " more" words when it has fewer than
// n words, in streamed and non-streamed answers alike, so both stay equal.
func WithStreamChunks(n int) Option { return func(c *config) { c.chunks = n } }

// WithHang never answers model requests; the connection is dropped when the
// client gives up or the server closes. For timeout tests.
func WithHang() Option { return func(c *config) { c.hang = true } }

// WithFragmentedStream writes each stream event in up to four pieces,
// flushing and pausing briefly between them: cuts fall after byte 7 (inside
// the first SSE line, or the 12-byte event-stream prelude), in the middle,
// and before the last byte (between the two newlines ending an SSE event, or
// inside the message CRC).
func WithFragmentedStream() Option { return func(c *config) { c.fragment = true } }

// WithCoalescedStream writes the whole stream in one write, so many events
// arrive in one read. WithChunkDelay is ignored.
func WithCoalescedStream() Option { return func(c *config) { c.coalesce = true } }

// WithStreamError replaces stream event n (0-based) and everything after it
// with the provider's mid-stream error event (OpenAI data: {"error":…},
// Anthropic event: error, Bedrock modelStreamErrorException, Responses
// event: error).
func WithStreamError(n int) Option { return func(c *config) { c.errAfter = n } }

// WithStreamCut sends n stream events and then drops the connection without
// ending the body.
func WithStreamCut(n int) Option { return func(c *config) { c.cutAfter = n } }

// WithCachedTokens reports n prompt tokens as read from the prompt cache, in
// each provider's convention: OpenAI prompt_tokens includes them and
// prompt_tokens_details.cached_tokens = n; Anthropic cache_read_input_tokens
// and Bedrock cacheReadInputTokens = n on top of the input tokens.
func WithCachedTokens(n int) Option { return func(c *config) { c.cached = n } }

// WithTokenTTL sets expires_in (seconds) of GCP access tokens. Vertex
// endpoints reject a token once it has expired. Default 3599.
func WithTokenTTL(secs int) Option { return func(c *config) { c.tokenTTL = secs } }

// WithJWTKey makes the GCP token endpoint verify the RS256 assertion with pub
// and check its claims (iss, scope, aud present; exp-iat at most one hour;
// now within [iat-5m, exp]).
func WithJWTKey(pub *rsa.PublicKey) Option { return func(c *config) { c.jwtKey = pub } }

// WithRecordLimit keeps only the last n requests (none when n is 0) for
// Requests and Last; Count still counts every request. A long-running mock,
// like the local gateway's, then holds bounded memory. By default a mock
// keeps every request, for tests to inspect.
func WithRecordLimit(n int) Option { return func(c *config) { c.keep = max(n, 0) } }

// route serves one request once its body is read and recorded.
type route func(s *Server, w http.ResponseWriter, r *http.Request, body []byte)

func newServer(opts []Option, rt route) *Server {
	s := &Server{closed: make(chan struct{}), tokens: map[string]time.Time{}}
	s.cfg = config{errAfter: -1, cutAfter: -1, tokenTTL: 3599, keep: -1}
	for _, o := range opts {
		o(&s.cfg)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return // client went away mid-body
		}
		s.record(r, body)
		for _, h := range s.cfg.respHeaders {
			w.Header().Add(h[0], h[1])
		}
		rt(s, w, r, body)
	}))
	s.URL = s.srv.URL
	return s
}

// Close stops the server, releasing hung and delayed handlers first.
func (s *Server) Close() {
	s.closeOne.Do(func() { close(s.closed) })
	s.srv.Close()
}

func (s *Server) record(r *http.Request, body []byte) {
	keep := s.cfg.keep
	if keep == 0 {
		s.mu.Lock()
		s.seen++
		s.mu.Unlock()
		return
	}
	rec := Recorded{
		Method: r.Method, Path: r.URL.Path, EscapedPath: r.URL.EscapedPath(),
		RawQuery: r.URL.RawQuery, Host: r.Host, Header: r.Header.Clone(), Body: body,
		Model: modelOf(r, body),
	}
	s.mu.Lock()
	s.seen++
	if keep > 0 && len(s.reqs) == keep {
		// Drop the oldest; the slice never grows past keep.
		copy(s.reqs, s.reqs[1:])
		s.reqs[keep-1] = rec
	} else {
		s.reqs = append(s.reqs, rec)
	}
	s.mu.Unlock()
}

// Requests returns the recorded requests, oldest first: every request seen
// so far, or the last ones under WithRecordLimit.
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Recorded(nil), s.reqs...)
}

// Last returns the most recent request, or the zero Recorded if none came.
func (s *Server) Last() Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		return Recorded{}
	}
	return s.reqs[len(s.reqs)-1]
}

// Count returns how many requests the server has seen since it started or
// was Reset, recorded or not.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen
}

// Reset forgets the recorded requests and the count.
func (s *Server) Reset() {
	s.mu.Lock()
	s.reqs, s.seen = nil, 0
	s.mu.Unlock()
}

func (s *Server) next() int64 { return s.seq.Add(1) }

// modelOf finds the model a request addresses; see Recorded.Model.
func modelOf(r *http.Request, body []byte) string {
	if id, _, ok := bedrockPath(r); ok {
		return id
	}
	if p := r.URL.Path; strings.Contains(p, "/models/") && strings.LastIndexByte(p, ':') > strings.LastIndex(p, "/models/") {
		p = p[strings.LastIndex(p, "/models/")+len("/models/"):]
		return p[:strings.LastIndexByte(p, ':')]
	}
	if m := gjson.GetBytes(body, "model").String(); m != "" {
		return m
	}
	return azureDeployment(r.URL.Path)
}

// errorWriter writes a provider-shaped error. code is the provider's error
// code or type name when it has one ("" picks the default for status).
type errorWriter func(w http.ResponseWriter, status int, code, msg string)

// gate runs the options shared by every model endpoint: hang, delay, forced
// status. It reports false when the request has been answered (or abandoned).
func (s *Server) gate(w http.ResponseWriter, r *http.Request, werr errorWriter) bool {
	if s.cfg.hang {
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		panic(http.ErrAbortHandler) // drop the connection without a reply
	}
	if !s.sleep(r, s.cfg.delay) {
		return false
	}
	if s.cfg.status == 0 {
		return true
	}
	if s.cfg.statusBody == "" {
		werr(w, s.cfg.status, "", http.StatusText(s.cfg.status))
		return false
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(s.cfg.status)
	io.WriteString(w, s.cfg.statusBody)
	return false
}

// checkKeys verifies WithAuthHeader and WithQueryKey. It returns the name of
// the first header or parameter that is missing or wrong, "" when all match.
func (s *Server) checkKeys(r *http.Request) string {
	for _, h := range s.cfg.headers {
		if r.Header.Get(h[0]) != h[1] {
			return h[0]
		}
	}
	q := r.URL.Query()
	for _, p := range s.cfg.query {
		if q.Get(p[0]) != p[1] {
			return "?" + p[0]
		}
	}
	return ""
}

// sleep waits d unless the client leaves or the server closes first.
func (s *Server) sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-s.closed:
	}
	return false
}

// fragmentPause separates the pieces of a fragmented event long enough for
// them to arrive in separate reads on loopback.
const fragmentPause = time.Millisecond

// stream writes a 200 streaming reply made of events, honouring the stream
// options. errEvent is the provider's mid-stream error event.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, contentType string, events [][]byte, errEvent []byte) {
	c := &s.cfg
	if c.errAfter >= 0 && c.errAfter < len(events) {
		events = append(events[:c.errAfter:c.errAfter], errEvent)
	}
	cut := c.cutAfter >= 0 && c.cutAfter < len(events)
	if cut {
		events = events[:c.cutAfter]
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	write := func(b []byte) bool {
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if c.coalesce {
		write(bytes.Join(events, nil))
	} else {
		for i, ev := range events {
			if i > 0 && !s.sleep(r, c.chunkDelay) {
				return
			}
			if !c.fragment {
				if !write(ev) {
					return
				}
				continue
			}
			for j, piece := range fragments(ev) {
				if (j > 0 && !s.sleep(r, fragmentPause)) || !write(piece) {
					return
				}
			}
		}
	}
	if cut {
		panic(http.ErrAbortHandler) // end the connection without the final chunk
	}
}

// fragments cuts ev at byte 7, in the middle and before the last byte.
func fragments(ev []byte) [][]byte {
	var out [][]byte
	last := 0
	for _, cut := range []int{7, len(ev) / 2, len(ev) - 1} {
		if cut > last && cut < len(ev) {
			out = append(out, ev[last:cut])
			last = cut
		}
	}
	return append(out, ev[last:])
}

// sse formats one server-sent event; name may be empty.
func sse(name string, data any) []byte {
	var b []byte
	if name != "" {
		b = append(b, "event: "...)
		b = append(b, name...)
		b = append(b, '\n')
	}
	b = append(b, "data: "...)
	if raw, ok := data.(string); ok {
		b = append(b, raw...)
	} else {
		b = append(b, mustJSON(data)...)
	}
	return append(b, "\n\n"...)
}

type obj = map[string]any

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("mock: marshal %T: %v", v, err)) // a bug in this package
	}
	return b
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(mustJSON(v))
}

// prompt is what the mocks need from any provider's request.
type prompt struct {
	words      int    // words in the system prompt and all message text
	last       string // text of the last user message
	toolResult bool   // that message carries a tool result
	tools      []tool
	choice     string // "" (auto), "none", "any", or a tool name
	maxTokens  int    // 0: no limit
}

type tool struct {
	name   string
	schema gjson.Result
}

type toolCall struct{ name, args string }

type stopKind int

const (
	stopEnd stopKind = iota
	stopLength
	stopTool
)

// answer is the provider-neutral model output.
type answer struct {
	text            string
	calls           []toolCall
	stop            stopKind
	in, out, cached int
}

// answer decides what the model says to p.
func (s *Server) answer(p prompt) answer {
	a := answer{in: p.words, cached: s.cfg.cached}
	lower := strings.ToLower(p.last)
	if len(p.tools) > 0 && !p.toolResult && p.choice != "none" && (p.choice != "" || strings.Contains(lower, "weather")) {
		for _, t := range p.tools {
			if p.choice == t.name || p.choice == "" || p.choice == "any" {
				a.calls = append(a.calls, toolCall{t.name, toolArgs(t.schema)})
			}
		}
		if len(a.calls) > 1 && !strings.Contains(lower, "parallel") {
			a.calls = a.calls[:1]
		}
		if len(a.calls) > 0 {
			a.stop, a.out = stopTool, 2*len(a.calls)
			return a
		}
	}
	a.text = "You said: " + p.last
	if p.toolResult {
		a.text = "Tool returned: " + p.last
	}
	a.text = strings.TrimSpace(a.text)
	if n := len(strings.Fields(a.text)); s.cfg.chunks > n {
		a.text += strings.Repeat(" more", s.cfg.chunks-n)
	}
	if f := strings.Fields(a.text); p.maxTokens > 0 && len(f) > p.maxTokens {
		a.text, a.stop = strings.Join(f[:p.maxTokens], " "), stopLength
	}
	a.out = len(strings.Fields(a.text))
	return a
}

// pieces splits the reply into stream deltas: one per word (each but the
// first keeps its leading space), or exactly WithStreamChunks groups.
func (s *Server) pieces(text string) []string {
	var out []string
	start := 0
	for i := 1; i < len(text); i++ {
		if text[i] == ' ' && text[i-1] != ' ' {
			out = append(out, text[start:i])
			start = i
		}
	}
	if start < len(text) {
		out = append(out, text[start:])
	}
	n := s.cfg.chunks
	if n <= 0 || n >= len(out) {
		return out
	}
	grouped := make([]string, n)
	for i, p := range out {
		grouped[i*n/len(out)] += p
	}
	return grouped
}

// argPieces splits tool-call arguments the way providers stream them: an
// empty first fragment, then two halves.
func argPieces(args string) []string {
	return []string{"", args[:len(args)/2], args[len(args)/2:]}
}

// toolArgs builds deterministic arguments from a JSON schema; see the
// package comment.
func toolArgs(schema gjson.Result) string {
	props := schema.Get("properties").Map()
	var keys []string
	for _, k := range schema.Get("required").Array() {
		keys = append(keys, k.String())
	}
	if len(keys) == 0 {
		schema.Get("properties").ForEach(func(k, _ gjson.Result) bool {
			keys = append(keys, k.String())
			return true
		})
	}
	b := []byte{'{'}
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, mustJSON(k)...)
		b = append(b, ':')
		p := props[k]
		if e := p.Get("enum.0"); e.Exists() {
			b = append(b, e.Raw...)
			continue
		}
		switch p.Get("type").String() {
		case "integer", "number":
			b = append(b, '1')
		case "boolean":
			b = append(b, "true"...)
		case "array":
			b = append(b, "[]"...)
		case "object":
			b = append(b, "{}"...)
		default:
			b = append(b, `"mock"`...)
		}
	}
	return string(append(b, '}'))
}

// appendText collects the text of a message, content value or block list:
// plain strings, "text" fields, and (recursively) "content", "toolResult" and
// "output" members. Images, tool inputs and JSON tool results are skipped.
func appendText(dst []string, v gjson.Result) []string {
	switch {
	case v.Type == gjson.String:
		dst = append(dst, v.Str)
	case v.IsArray():
		for _, e := range v.Array() {
			dst = appendText(dst, e)
		}
	case v.IsObject():
		if t := v.Get("text"); t.Type == gjson.String {
			dst = append(dst, t.Str)
		}
		for _, k := range []string{"content", "toolResult", "output"} {
			dst = appendText(dst, v.Get(k))
		}
	}
	return dst
}

func textOf(v gjson.Result) string { return strings.Join(appendText(nil, v), " ") }

func wordsOf(vs ...gjson.Result) int {
	n := 0
	for _, v := range vs {
		n += len(strings.Fields(textOf(v)))
	}
	return n
}

// Embedding is the vector the mocks return for text: dims values in [-1, 1),
// a pure function of text and position, exactly representable as float32 so
// it survives base64 and JSON round trips.
func Embedding(text string, dims int) []float32 {
	v := make([]float32, dims)
	for i := range v {
		h := fnv.New64a()
		h.Write([]byte(text))
		h.Write(binary.LittleEndian.AppendUint32(nil, uint32(i)))
		v[i] = float32(int64(h.Sum64()>>40)-1<<23) / (1 << 23)
	}
	return v
}

// defaultDims is the embedding size when the request does not ask for one
// (real models return 768–3072; the fixtures keep 8).
const defaultDims = 8
