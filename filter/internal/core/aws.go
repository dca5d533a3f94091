package core

import (
	"strings"
	"time"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/sigv4"
)

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

// sign returns the SigV4 headers for the upstream request, or none when
// the provider does not use AWS credentials.
func (s *Stream) sign(pathQuery string, body []byte) ([][2]string, error) {
	if s.b.signer == nil {
		return nil, nil
	}
	path, query, _ := strings.Cut(pathQuery, "?")
	return s.b.signer.Sign(&sigv4.Request{
		Method: "POST", Host: s.t.authority, Path: path, Query: query,
		Headers: [][2]string{{"content-type", "application/json"}}, Body: body,
	}, time.Unix(0, s.h.NowNanos()).UTC())
}
