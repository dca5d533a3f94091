package core

import (
	"strconv"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert"
)

// errorType is OpenAI's error type for an HTTP status.
func errorType(status int) string {
	switch {
	case status == 401:
		return "authentication_error"
	case status == 403:
		return "permission_error"
	case status == 404:
		return "not_found_error"
	case status == 413:
		return "request_too_large"
	case status == 429:
		return "rate_limit_error"
	case status >= 500:
		return "api_error"
	}
	return "invalid_request_error"
}

// errorBody renders a gateway error in the client's protocol: OpenAI's
// {"error":{...}} or Anthropic's {"type":"error","error":{...}}.
func errorBody(client convert.Protocol, status int, msg string) []byte {
	b := make([]byte, 0, 96+len(msg))
	if client == convert.AnthropicMessages {
		b = append(b, `{"type":"error","error":{"type":`...)
		b = appendJSONString(b, errorType(status))
		b = append(b, `,"message":`...)
		b = appendJSONString(b, msg)
		return append(b, "}}"...)
	}
	b = append(b, `{"error":{"message":`...)
	b = appendJSONString(b, msg)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, errorType(status))
	b = append(b, `,"param":null,"code":`...)
	b = appendJSONString(b, "ai_proxy_"+strconv.Itoa(status))
	return append(b, "}}"...)
}

// appendJSONString appends s as a JSON string literal.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
