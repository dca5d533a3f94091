package convert

import (
	"errors"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
)

// ErrEmptyStream is returned by Stream when the upstream stream ended
// without producing a message (no chunk with content, a finish reason or
// usage). The caller should answer 502: an empty 200 would look like a
// successful, silent completion.
var ErrEmptyStream = errors.New("convert: upstream stream ended without producing a message")

// StreamError is returned by Stream when the upstream reported an error
// inside a successful (200) stream, or cut the stream before its end. The
// bytes returned with it already tell the client, in its protocol.
type StreamError struct {
	Type    string // error type in the client's protocol, e.g. "overloaded_error"
	Message string
}

func (e *StreamError) Error() string {
	return "convert: upstream stream error: " + e.Type + ": " + e.Message
}

// ErrorBody returns the error body a client of protocol p expects, for an
// error the gateway itself produces (status is the HTTP status it will send).
// OpenAI protocols get {"error":{"message","type","param","code"}}, Anthropic
// gets {"type":"error","error":{"type","message"}}.
func ErrorBody(p Protocol, status int, message string) []byte {
	return ErrorBodyCode(p, status, "", message)
}

// ErrorBodyCode is ErrorBody with OpenAI's error code, such as
// model_not_found ("" for null). Anthropic's error object has no code.
func ErrorBodyCode(p Protocol, status int, code, message string) []byte {
	if p == AnthropicMessages {
		return appendAnthropicError(nil, anthropicErrorType(status), message)
	}
	return appendOpenAIError(nil, openAIErrorType(status), message, code)
}

// toAnthropicError rewrites any upstream error body (OpenAI shape, Anthropic
// shape, a bare {"message"} or plain text) into Anthropic's error object.
// Anthropic's error types follow the HTTP status, so the type comes from
// the status unless the body is already an Anthropic error.
func toAnthropicError(status int, body []byte) []byte {
	typ, msg := upstreamError(body)
	if !isAnthropicErrorType(typ) || jsonbytes.Parse(body).Get("type").Str() != "error" {
		typ = anthropicErrorType(status)
	}
	return appendAnthropicError(make([]byte, 0, 64+len(msg)), typ, msg)
}

// toOpenAIError rewrites any upstream error body into OpenAI's error object.
func toOpenAIError(status int, body []byte) []byte {
	typ, msg := upstreamError(body)
	code := jsonbytes.Parse(body).Get("error.code")
	codeStr := ""
	if code.IsString() {
		codeStr = code.Str()
	}
	switch typ {
	case "invalid_request_error", "authentication_error", "permission_error",
		"rate_limit_error", "server_error", "insufficient_quota":
	case "not_found_error", "request_too_large":
		typ = "invalid_request_error"
	case "billing_error":
		typ = "insufficient_quota"
	default:
		typ = openAIErrorType(status)
	}
	return appendOpenAIError(make([]byte, 0, 80+len(msg)), typ, msg, codeStr)
}

// upstreamError finds the error type and message in an upstream error body.
// Both OpenAI and Anthropic put them at error.type and error.message; other
// providers use a top-level message (Bedrock) or plain text.
func upstreamError(body []byte) (typ, msg string) {
	s := jsonbytes.StringView(body)
	if jsonbytes.Valid(body) {
		doc := jsonbytes.Parse(body)
		e := doc.Get("error")
		switch {
		case e.IsObject():
			typ, msg = e.Get("type").String(), e.Get("message").String()
		case e.IsString():
			msg = e.Str()
		}
		if msg == "" {
			msg = doc.Get("message").String()
		}
		if msg == "" {
			msg = doc.Get("detail").String()
		}
	}
	if msg == "" {
		msg = s
		if len(msg) > 1024 {
			msg = msg[:1024]
		}
	}
	if msg == "" {
		msg = "upstream returned an empty error body"
	}
	return typ, msg
}

func isAnthropicErrorType(t string) bool {
	switch t {
	case "invalid_request_error", "authentication_error", "billing_error",
		"permission_error", "not_found_error", "request_too_large",
		"rate_limit_error", "timeout_error", "api_error", "overloaded_error":
		return true
	}
	return false
}

// anthropicErrorType maps an HTTP status to Anthropic's error type
// (docs.claude.com/en/api/errors).
func anthropicErrorType(status int) string {
	switch status {
	case 400, 422:
		return "invalid_request_error"
	case 401:
		return "authentication_error"
	case 402:
		return "billing_error"
	case 403:
		return "permission_error"
	case 404:
		return "not_found_error"
	case 413:
		return "request_too_large"
	case 429:
		return "rate_limit_error"
	case 504:
		return "timeout_error"
	case 503, 529:
		return "overloaded_error"
	}
	if status >= 400 && status < 500 {
		return "invalid_request_error"
	}
	return "api_error"
}

// openAIErrorType maps an HTTP status to the error type OpenAI uses for it.
func openAIErrorType(status int) string {
	switch status {
	case 401:
		return "authentication_error"
	case 403:
		return "permission_error"
	case 429:
		return "rate_limit_error"
	}
	if status >= 400 && status < 500 {
		return "invalid_request_error"
	}
	return "server_error"
}

func appendAnthropicError(dst []byte, typ, msg string) []byte {
	dst = append(dst, `{"type":"error","error":{"type":`...)
	dst = jsonbytes.AppendString(dst, typ)
	dst = append(dst, `,"message":`...)
	dst = jsonbytes.AppendString(dst, msg)
	return append(dst, "}}"...)
}

func appendOpenAIError(dst []byte, typ, msg, code string) []byte {
	dst = append(dst, `{"error":{"message":`...)
	dst = jsonbytes.AppendString(dst, msg)
	dst = append(dst, `,"type":`...)
	dst = jsonbytes.AppendString(dst, typ)
	dst = append(dst, `,"param":null,"code":`...)
	if code == "" {
		dst = append(dst, "null"...)
	} else {
		dst = jsonbytes.AppendString(dst, code)
	}
	return append(dst, "}}"...)
}

// StreamErrorEvent frames an error as the event that ends a stream for a
// client of protocol p: Anthropic's "event: error", or OpenAI's data
// line followed by [DONE].
func StreamErrorEvent(p Protocol, message string) []byte {
	body := ErrorBody(p, 500, message)
	if p == AnthropicMessages {
		return append(append([]byte("event: error\ndata: "), body...), "\n\n"...)
	}
	return append(append([]byte("data: "), body...), "\n\ndata: [DONE]\n\n"...)
}
