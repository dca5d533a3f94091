package core

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
)

// A retry rebuilds the request from the client's bytes: Build must leave
// them and their index as they were, and give the same attempt again.
func TestBuildTwiceFromOneClientBody(t *testing.T) {
	tests := []struct {
		name   string
		conf   string
		client convert.Protocol
		body   string
		stream bool
	}{
		{"openai, options and stream usage", `{"provider":"openai","auth":{"header":{"Authorization":"Bearer k"}},"options":{"model":"gpt-4o","temperature":0.2},
			"override":{"llm_options":{"max_tokens":64},"request_body":{"openai-chat":{"metadata":{"a":"b"}}}}}`,
			convert.OpenAIChat, `{"model":"x","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}],"metadata":{"c":"d"}}`, true},
		{"openai, nothing to change", `{"provider":"openai","auth":{"header":{"Authorization":"Bearer k"}}}`,
			convert.OpenAIChat, `{"model":"x","messages":[{"role":"user","content":"hi"}]}`, false},
		{"anthropic to openai", `{"provider":"openai","auth":{"header":{"Authorization":"Bearer k"}},"options":{"model":"gpt-4o"}}`,
			convert.AnthropicMessages, `{"model":"claude","max_tokens":10,"system":"be brief","messages":[{"role":"user","content":"hi"}]}`, false},
		{"openai to bedrock, model in the path", `{"provider":"bedrock","provider_conf":{"region":"us-east-1"},"auth":{"aws":{"access_key_id":"a","secret_access_key":"s"}},
			"override":{"llm_options":{"max_tokens":64}}}`,
			convert.OpenAIChat, `{"model":"anthropic.claude-v2:1","messages":[{"role":"system","content":"s"},{"role":"user","content":"hi"}]}`, true},
		{"bedrock converse as is", `{"provider":"bedrock","provider_conf":{"region":"us-east-1"},"auth":{"aws":{"access_key_id":"a","secret_access_key":"s"}},
			"override":{"llm_options":{"max_tokens":64}}}`,
			convert.BedrockConverse, `{"model":"m","messages":[{"role":"user","content":[{"text":"hi"}]}]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tt.conf), nil)
			if err != nil {
				t.Fatal(err)
			}
			p := NewPlugin(cfg, envoyCaps, newFakeRoot())
			clk := newFakeRoot() // a stopped clock: the same time signs the same
			body := []byte(tt.body)
			original := bytes.Clone(body)
			var obj jsonbytes.Object
			if err := obj.Parse(body); err != nil {
				t.Fatal(err)
			}
			model, _ := obj.String("model")
			index := members(&obj)
			req := &clientRequest{protocol: tt.client, body: body, obj: &obj, stream: tt.stream, model: model}

			a1, berr := p.backend.Build(&p.buf, req, nil, clk)
			if berr != nil {
				t.Fatal(berr.msg)
			}
			if signed := len(a1.headers) > 0; signed != (p.backend.signer != nil) {
				t.Errorf("signature headers %v with signer %v", a1.headers, p.backend.signer != nil)
			}
			body1, path1 := bytes.Clone(a1.body), a1.path // a1.body is valid until the next Build
			a2, berr := p.backend.Build(&p.buf, req, a1.tr, clk)
			if berr != nil {
				t.Fatal(berr.msg)
			}
			if !bytes.Equal(a2.body, body1) || a2.path != path1 || a2.model != a1.model || a2.target != a1.target ||
				fmt.Sprint(a2.headers) != fmt.Sprint(a1.headers) {
				t.Errorf("second build differs:\n first %s %s\nsecond %s %s", path1, body1, a2.path, a2.body)
			}
			if !bytes.Equal(body, original) {
				t.Errorf("client body changed:\n got %s\nwant %s", body, original)
			}
			if got := members(&obj); got != index {
				t.Errorf("client index changed:\n got %s\nwant %s", got, index)
			}
		})
	}
}

// members renders an index's members, to compare two moments of it.
func members(o *jsonbytes.Object) string {
	var b []byte
	for _, m := range o.Members {
		b = append(append(append(append(b, m.Key...), '='), m.Value...), ';')
	}
	return string(b)
}

// A translated request gets the backend's settings while the translator
// writes it, in the upstream protocol and in APISIX's order (options,
// stream usage, llm_options.max_tokens, request_body): the body is the
// one the gateway built by translating, indexing the result again and
// editing a copy of it.
func TestBuildTranslatesWithSettings(t *testing.T) {
	const (
		anthropicURL = `"override":{"endpoint":"https://api.anthropic.com/v1/messages"`
		bedrock      = `"provider":"bedrock","provider_conf":{"region":"us-east-1"},"auth":{"aws":{"access_key_id":"a","secret_access_key":"s"}}`
		chat         = `"messages":[{"role":"system","content":"s"},{"role":"user","content":"hi"}]`
	)
	tests := []struct {
		name   string
		conf   string
		client convert.Protocol
		body   string
		stream bool
		want   string
	}{
		{"openai to anthropic: options, max_tokens, metadata merged",
			`{"provider":"openai-compatible","auth":{"header":{"x-api-key":"k"}},` + anthropicURL + `,"llm_options":{"max_tokens":100},
			"request_body":{"anthropic-messages":{"metadata":{"tag":"a"},"top_k":3}}},"options":{"model":"claude-x","temperature":0.3,"service_tier":"auto"}}`,
			convert.OpenAIChat, `{"model":"gpt","user":"u1","stream":true,` + chat + `}`, true,
			`{"model":"claude-x","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_tokens":100,"system":[{"type":"text","text":"s"}],"stream":true,"metadata":{"user_id":"u1","tag":"a"},"temperature":0.3,"service_tier":"auto","top_k":3}`},
		{"openai to anthropic: forced request_body replaces what the translator wrote",
			`{"provider":"openai-compatible","auth":{"header":{"x-api-key":"k"}},` + anthropicURL + `,
			"request_body":{"anthropic-messages":{"system":"forced","stop_sequences":["x"]}},"request_body_force_override":true}}`,
			convert.OpenAIChat, `{"model":"gpt","stop":"END",` + chat + `}`, false,
			`{"model":"gpt","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_tokens":4096,"system":"forced","stop_sequences":["x"]}`},
		{"anthropic to deepseek: max_tokens moves to the provider's name, stream usage kept",
			`{"provider":"deepseek","auth":{"header":{"Authorization":"Bearer k"}},"options":{"model":"deepseek-chat","stream_options":{"include_usage":false}}}`,
			convert.AnthropicMessages, `{"model":"claude","max_tokens":10,"stream":true,"system":"be brief","messages":[{"role":"user","content":"hi"}]}`, true,
			`{"model":"deepseek-chat","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true},"max_tokens":10}`},
		{"anthropic to openai: llm_options.max_tokens wins",
			`{"provider":"openai","auth":{"header":{"Authorization":"Bearer k"}},"override":{"llm_options":{"max_tokens":64},"request_body":{"openai-chat":{"metadata":{"a":"b"}}}}}`,
			convert.AnthropicMessages, `{"model":"gpt-4o","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, false,
			`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":64,"metadata":{"a":"b"}}`},
		{"openai to bedrock: max_tokens inside the inferenceConfig the translator wrote",
			`{` + bedrock + `,"override":{"llm_options":{"max_tokens":64},"request_body":{"bedrock-converse":{"inferenceConfig":{"topP":0.5},"additionalModelRequestFields":{"k":1}}}}}`,
			convert.OpenAIChat, `{"model":"m","max_tokens":5,"temperature":0.2,"stream":true,` + chat + `}`, true,
			`{"messages":[{"role":"user","content":[{"text":"hi"}]}],"system":[{"text":"s"}],"inferenceConfig":{"maxTokens":64,"temperature":0.2,"topP":0.5},"additionalModelRequestFields":{"k":1}}`},
		{"openai to bedrock: inferenceConfig added for max_tokens",
			`{` + bedrock + `,"options":{"model":"m2"},"override":{"llm_options":{"max_tokens":64}}}`,
			convert.OpenAIChat, `{"model":"m",` + chat + `}`, false,
			`{"messages":[{"role":"user","content":[{"text":"hi"}]}],"system":[{"text":"s"}],"inferenceConfig":{"maxTokens":64}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tt.conf), nil)
			if err != nil {
				t.Fatal(err)
			}
			p := NewPlugin(cfg, envoyCaps, newFakeRoot())
			var obj jsonbytes.Object
			if err := obj.Parse([]byte(tt.body)); err != nil {
				t.Fatal(err)
			}
			model, _ := obj.String("model")
			req := &clientRequest{protocol: tt.client, body: []byte(tt.body), obj: &obj, stream: tt.stream, model: model}
			a, berr := p.backend.Build(&p.buf, req, nil, newFakeRoot())
			if berr != nil {
				t.Fatal(berr.msg)
			}
			if string(a.body) != tt.want {
				t.Errorf("upstream body\n got %s\nwant %s", a.body, tt.want)
			}
		})
	}
}
