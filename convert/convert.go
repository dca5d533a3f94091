// Package convert translates LLM request and response bodies between
// protocols (OpenAI Chat, OpenAI Responses, OpenAI Embeddings, Anthropic
// Messages, Bedrock Converse, Vertex AI predict) working over bytes.
//
// Contract:
//   - Everything here is pure: no I/O, no goroutines, no timers, no globals
//     that change after init. It compiles for GOOS=wasip1 and runs inside a
//     proxy-wasm VM, so it must never panic on input: malformed bodies return
//     an error, and a Translator stays usable after an error.
//   - Bodies are read and written over bytes with internal/jsonbytes and
//     append. encoding/json is not used (it is 5-10x slower in Wasm, and
//     its reflection costs half a megabyte of the module).
//   - A Translator serves exactly one exchange (one request and its response
//     or stream) because it keeps state between them: tool-name mappings,
//     the model, stream position and usage counters.
package convert

import (
	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert/sse"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
)

// Protocol names a wire protocol. String() gives the names used as keys of
// the APISIX ai-proxy option override.request_body.
type Protocol uint8

const (
	Unknown Protocol = iota
	OpenAIChat
	OpenAIResponses
	OpenAIEmbeddings
	AnthropicMessages
	BedrockConverse
	VertexPredict // Vertex AI embeddings :predict
)

var protocolNames = [...]string{
	Unknown:           "unknown",
	OpenAIChat:        "openai-chat",
	OpenAIResponses:   "openai-responses",
	OpenAIEmbeddings:  "openai-embeddings",
	AnthropicMessages: "anthropic-messages",
	BedrockConverse:   "bedrock-converse",
	VertexPredict:     "vertex-predict",
}

func (p Protocol) String() string {
	if int(p) < len(protocolNames) {
		return protocolNames[p]
	}
	return "unknown"
}

// ParseProtocol is the inverse of Protocol.String.
func ParseProtocol(s string) (Protocol, bool) {
	for i, n := range protocolNames {
		if i > 0 && n == s {
			return Protocol(i), true
		}
	}
	return Unknown, false
}

// Usage is what one exchange consumed, in the OpenAI sense: PromptTokens
// includes cached tokens, TotalTokens = PromptTokens + CompletionTokens.
type Usage struct {
	PromptTokens        int64
	CompletionTokens    int64
	TotalTokens         int64
	CacheReadTokens     int64 // prompt tokens served from a cache
	CacheCreationTokens int64 // prompt tokens written to a cache
	ReasoningTokens     int64 // part of CompletionTokens
}

// Merge takes the counts u2 reports (those above zero) into u, recomputing
// the total when it was not given.
func (u *Usage) Merge(u2 Usage) {
	if u2.PromptTokens > 0 {
		u.PromptTokens = u2.PromptTokens
	}
	if u2.CompletionTokens > 0 {
		u.CompletionTokens = u2.CompletionTokens
	}
	if u2.CacheReadTokens > 0 {
		u.CacheReadTokens = u2.CacheReadTokens
	}
	if u2.CacheCreationTokens > 0 {
		u.CacheCreationTokens = u2.CacheCreationTokens
	}
	if u2.ReasoningTokens > 0 {
		u.ReasoningTokens = u2.ReasoningTokens
	}
	if u2.TotalTokens > 0 {
		u.TotalTokens = u2.TotalTokens
	}
	if u.TotalTokens < u.PromptTokens+u.CompletionTokens {
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
}

// Translator converts one exchange from the client's protocol to the
// upstream's and back. Identity translators (client == upstream) forward
// the client's bytes, copied only when the Editor changes them, and only
// observe usage.
type Translator interface {
	// Request writes the client's request, already validated and indexed
	// in req, in the upstream protocol, appended to dst. It reads req's
	// members rather than parsing the body again, and passes every
	// top-level member it writes through ed (nil: no edits), which is how
	// the caller's settings (model, max_tokens, overrides, in the upstream
	// protocol) get into the body as it is written. The pass-through
	// returns req's own bytes when ed changes nothing.
	Request(req *jsonbytes.Object, dst []byte, ed jsonbytes.Editor) ([]byte, error)

	// Response rewrites a complete, successful (2xx) upstream body.
	Response(body []byte) ([]byte, error)

	// Error rewrites an upstream error body (status >= 400) into the client
	// protocol's error shape. It never fails: an unreadable body is wrapped.
	Error(status int, body []byte) []byte

	// Stream takes the next upstream chunk of a streamed response (events may
	// be split across chunks or several may share one) and returns the bytes
	// to send to the client now, which may be empty. eos marks the last
	// chunk; the result then includes any terminal events the client expects.
	// After a protocol error it returns the error and the client bytes that
	// end the stream properly for that client.
	//
	// The result is valid until the next call: it is chunk itself or a
	// buffer the Translator reuses, so the caller hands it on (or copies it)
	// before calling again. The caller may append to it.
	Stream(chunk []byte, eos bool) ([]byte, error)

	// StreamContentType is the Content-Type of what Stream produces.
	StreamContentType() string

	// Usage reports the tokens counted so far (request, response or stream).
	Usage() Usage

	// FirstToken reports whether the stream has produced content yet (for
	// time-to-first-token).
	FirstToken() bool
}

// factories holds the constructors registered by each direction's file,
// indexed [client][upstream]: New runs once per request.
var factories [len(protocolNames)][len(protocolNames)]func() Translator

func register(client, upstream Protocol, f func() Translator) {
	factories[client][upstream] = f
}

// New returns a fresh Translator for one exchange, or false when the
// direction is not supported.
func New(client, upstream Protocol) (Translator, bool) {
	if int(client) >= len(factories) || int(upstream) >= len(factories) || factories[client][upstream] == nil {
		return nil, false
	}
	return factories[client][upstream](), true
}

// Renew is New for a caller that is done with old: when old serves the
// same direction and can be reset, it is returned ready for a new exchange
// with its buffers kept. Only the pass-through translator, the one most
// requests use, is recycled; old may be nil.
func Renew(old Translator, client, upstream Protocol) (Translator, bool) {
	if t, ok := old.(*identity); ok && client == upstream && t.proto == client {
		t.reset()
		return t, true
	}
	return New(client, upstream)
}

// sseOut is the output state of the translators that convert a stream
// into text/event-stream: a buffer reused across Stream calls (see
// Translator.Stream) and how the stream ended.
type sseOut struct {
	out   []byte // the events produced by the current Stream call
	done  bool   // the end, or an error, was written: nothing more is sent
	first bool   // content was sent (FirstToken)
	err   error  // returned with the events that end the stream with an error
}

func (s *sseOut) StreamContentType() string { return "text/event-stream" }
func (s *sseOut) FirstToken() bool          { return s.first }

// feed runs one Stream call over text/event-stream input: it passes each
// event p completes to event and, at eos, flushes p and calls end unless
// the stream is over by then.
func (s *sseOut) feed(p *sse.Parser, chunk []byte, eos bool, event func(sse.Event), end func()) ([]byte, error) {
	if s.done {
		return nil, nil // the end, or the error, was already reported
	}
	if s.out == nil {
		s.out = make([]byte, 0, 4096) // rather than growing it event by event
	}
	s.out = s.out[:0]
	p.Feed(chunk, event)
	if eos && !s.done {
		p.Flush(event)
		if !s.done {
			end()
		}
	}
	if len(s.out) == 0 {
		return nil, s.err
	}
	return s.out, s.err
}

// CanTranslate reports whether New(client, upstream) succeeds, without
// making a Translator.
func CanTranslate(client, upstream Protocol) bool {
	return int(client) < len(factories) && int(upstream) < len(factories) && factories[client][upstream] != nil
}
