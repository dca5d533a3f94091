package core

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
)

// BenchmarkSelectInstance is a request's pick among n instances, as the
// stream makes it (the key read from the headers, every instance asked
// whether it is excluded), on the balancer's state of many requests.
func BenchmarkSelectInstance(b *testing.B) {
	for _, algorithm := range []string{"roundrobin", "chash"} {
		for _, n := range []int{2, 16, 128} {
			var conf strings.Builder
			conf.WriteString(`{"balancer":{"algorithm":"` + algorithm + `","hash_on":"header","key":"x-user"},"instances":[`)
			for i := range n {
				if i > 0 {
					conf.WriteByte(',')
				}
				conf.WriteString(`{"name":"instance-` + strconv.Itoa(i) + `","provider":"openai","weight":` + strconv.Itoa(1+i%5) +
					`,"auth":{"header":{"Authorization":"Bearer k"}}}`)
			}
			conf.WriteString(`]}`)
			mc, err := ParsePluginConfig([]byte(conf.String()), nil)
			if err != nil {
				b.Fatal(err)
			}
			p := NewMultiPlugin(mc, envoyCaps, newFakeRoot())
			s := p.NewStream(&nopHost{})
			s.headers = clientHeaders("/v1/chat/completions", [2]string{"x-user", "user-42"})
			b.Run(algorithm+"/"+strconv.Itoa(n), func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if !s.pickInstance() {
						b.Fatal("no instance picked")
					}
				}
			})
		}
	}
}

// BenchmarkRebuild is a retry's rebuild of a 1 KB chat request for a
// second instance: Backend.Build again from the client's untouched,
// already indexed request, with that instance's options (same protocol)
// or converted for it (to Anthropic). Each rebuild recycles the
// translator of the one before, as a stream recycles its last one.
func BenchmarkRebuild(b *testing.B) {
	words := strings.Repeat("fox ", benchBodyWords)
	openaiBody := []byte(`{"model":"gpt-4","messages":[{"role":"user","content":"` + words + `"}]}`)
	anthropicBody := []byte(`{"model":"claude-sonnet-4-5","max_tokens":256,"messages":[{"role":"user","content":"` + words + `"}]}`)
	for _, tc := range []struct {
		name, second     string
		client, upstream convert.Protocol
		body             []byte
	}{
		{"1KB", `{"provider":"deepseek","auth":{"header":{"Authorization":"Bearer k2"}},"options":{"model":"deepseek-chat","temperature":0.5}}`,
			convert.OpenAIChat, convert.OpenAIChat, openaiBody},
		{"1KB-to-anthropic", `{"provider":"openai-compatible","auth":{"header":{"x-api-key":"k2"}},"override":{"endpoint":"https://api.anthropic.com/v1/messages"},
			"options":{"model":"claude-sonnet-4-5","max_tokens":256}}`, convert.OpenAIChat, convert.AnthropicMessages, openaiBody},
		{"1KB-anthropic-to-openai", `{"provider":"deepseek","auth":{"header":{"Authorization":"Bearer k2"}},"options":{"model":"deepseek-chat","temperature":0.5}}`,
			convert.AnthropicMessages, convert.OpenAIChat, anthropicBody},
		{"1KB-to-bedrock", `{"provider":"bedrock","provider_conf":{"region":"us-east-1"},"auth":{"aws":{"access_key_id":"a","secret_access_key":"s"}},
			"options":{"model":"anthropic.claude-3-haiku"},"override":{"llm_options":{"max_tokens":256}}}`, convert.OpenAIChat, convert.BedrockConverse, openaiBody},
	} {
		second := benchBackend(b, tc.second)
		p := NewPlugin(second.cfg, envoyCaps, newFakeRoot())
		var obj jsonbytes.Object
		if err := obj.Parse(tc.body); err != nil {
			b.Fatal(err)
		}
		model, _ := obj.String("model")
		req := &clientRequest{protocol: tc.client, body: tc.body, obj: &obj, model: model}
		var old convert.Translator
		if tc.client == convert.OpenAIChat {
			first := benchBackend(b, openaiConf)
			a, berr := first.Build(&p.buf, req, nil, &nopHost{})
			if berr != nil {
				b.Fatal(berr.msg)
			}
			old = a.tr
		}
		if a, berr := second.Build(&p.buf, req, nil, &nopHost{}); berr != nil || a.target.upstream != tc.upstream ||
			(convert.ModelInBody(tc.upstream) && !bytes.Contains(a.body, []byte(`"model":"`+a.model+`"`))) {
			b.Fatalf("%s: built %v for %s: %.80s", tc.name, berr, tc.upstream, a.body)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				a, berr := second.Build(&p.buf, req, old, &nopHost{})
				if berr != nil {
					b.Fatal(berr.msg)
				}
				old = a.tr
			}
		})
	}
}

func benchBackend(b *testing.B, conf string) *Backend {
	cfg, err := ParseConfig([]byte(conf), nil)
	if err != nil {
		b.Fatal(err)
	}
	return newBackend(cfg)
}
