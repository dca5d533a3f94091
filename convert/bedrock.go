package convert

import (
	"fmt"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert/eventstream"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
)

// BedrockStreamContentType is the Content-Type of a ConverseStream body.
const BedrockStreamContentType = "application/vnd.amazon.eventstream"

func init() {
	register(BedrockConverse, BedrockConverse, func() Translator { return &bedrockPassthrough{} })
}

// bedrockPassthrough serves a client that speaks Bedrock Converse to a
// Bedrock upstream (APISIX provider "bedrock"): bodies, streams and errors
// pass unchanged, and it only reads the usage and the first-token time.
type bedrockPassthrough struct {
	dec   eventstream.Decoder
	usage Usage
	first bool
	lost  bool // the stream's framing was lost: stop decoding
}

func (t *bedrockPassthrough) Request(req *jsonbytes.Object, dst []byte, ed jsonbytes.Editor) ([]byte, error) {
	return req.Edit(dst, ed)
}

func (t *bedrockPassthrough) Response(body []byte) ([]byte, error) {
	t.usage.Merge(converseUsage(jsonbytes.Parse(body).Get("usage")))
	return body, nil
}

func (t *bedrockPassthrough) Error(status int, body []byte) []byte { return body }

// Stream returns chunk itself. It decodes the event stream only to read
// the usage (metadata event) and note the first contentBlockDelta. An
// exception the upstream sends in the stream reaches the client as it is,
// so Stream reports no error for it. A stream whose framing is broken, or
// that ends inside a message, gives an error once.
func (t *bedrockPassthrough) Stream(chunk []byte, eos bool) ([]byte, error) {
	if t.lost {
		return chunk, nil
	}
	msgs, err := t.dec.Feed(chunk)
	for i := range msgs {
		m := &msgs[i]
		if m.Header(":message-type") != "event" {
			continue
		}
		switch m.Header(":event-type") {
		case "contentBlockDelta":
			t.first = true
		case "metadata":
			t.usage.Merge(converseUsage(jsonbytes.Parse(m.Payload).Get("usage")))
		}
	}
	if err == nil && eos && t.dec.Pending() > 0 {
		err = fmt.Errorf("convert: bedrock: stream ended inside an event-stream message (%d bytes buffered)", t.dec.Pending())
	}
	if err != nil {
		t.lost = true
		return chunk, err
	}
	return chunk, nil
}

func (t *bedrockPassthrough) StreamContentType() string { return BedrockStreamContentType }
func (t *bedrockPassthrough) Usage() Usage              { return t.usage }
func (t *bedrockPassthrough) FirstToken() bool          { return t.first }

// converseUsage reads a Converse usage object (response body or metadata
// event). Bedrock's inputTokens excludes the tokens read from or written to
// the prompt cache while totalTokens includes them, so PromptTokens adds
// them back (Usage counts prompt tokens the OpenAI way).
func converseUsage(u jsonbytes.Value) Usage {
	if !u.IsObject() {
		return Usage{}
	}
	cacheRead := u.Get("cacheReadInputTokens").Int()
	cacheWrite := u.Get("cacheWriteInputTokens").Int()
	r := Usage{
		PromptTokens:        u.Get("inputTokens").Int() + cacheRead + cacheWrite,
		CompletionTokens:    u.Get("outputTokens").Int(),
		TotalTokens:         u.Get("totalTokens").Int(),
		CacheReadTokens:     cacheRead,
		CacheCreationTokens: cacheWrite,
	}
	r.TotalTokens = max(r.TotalTokens, r.PromptTokens+r.CompletionTokens)
	return r
}

// streamException reads an exception message (":message-type" exception,
// payload {"message":...}) or an unmodelled error (":message-type" error,
// ":error-code"/":error-message" headers).
func streamException(m *eventstream.Message) (typ, msg string) {
	if m.Header(":message-type") == "error" {
		return m.Header(":error-code"), m.Header(":error-message")
	}
	return m.Header(":exception-type"), jsonbytes.Parse(m.Payload).Get("message").String()
}
